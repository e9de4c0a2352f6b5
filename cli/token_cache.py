"""A token cache per cloud: one JSON file per cloud, mode 0600 in a 0700 directory, reused
until shortly before the token expires and dropped when the server refuses it.

A cached token belongs to the exact credentials that made it: the file holds a salted scrypt
digest of the URL, user, project and password (never the password), and a token made with
other credentials (a changed password in clouds.yaml, another --password) is not reused."""

import dataclasses
import hashlib
import hmac
import json
import os
import re
import stat
import time
from collections.abc import Callable, Mapping
from pathlib import Path

# A token this close to its expiry is not reused: the command may outlast it.
EXPIRY_MARGIN = 60.0
# scrypt's cost for interactive logins (its paper's and Python's documented choice): a stolen
# cache file does not give the password away cheaply; about 50 ms a command here.
SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


@dataclasses.dataclass(frozen=True)
class CachedToken:
    token: str
    expires_at: float  # seconds since the epoch
    user_id: str = ""
    project_id: str = ""


def cache_dir(env: Mapping[str, str]) -> Path:
    home = Path(env.get("HOME") or Path.home())
    return Path(env.get("XDG_CACHE_HOME") or home / ".cache") / "stratus" / "tokens"


class TokenCache:
    """The cached token for one identity (cloud, URL, user, project) and its password.

    The file's name depends on the identity only, so that a new password replaces the token
    the old one made instead of leaving it behind."""

    def __init__(
        self,
        directory: Path,
        *,
        cloud: str | None,
        url: str,
        username: str,
        project: str,
        password: str,
        clock: Callable[[], float] = time.time,
    ):
        self.owner = {"url": url, "username": username, "project": project}
        digest = hashlib.sha256(json.dumps(self.owner, sort_keys=True).encode()).hexdigest()
        name = cloud if cloud and re.fullmatch(r"[A-Za-z0-9._-]+", cloud) else "env"
        self.path = directory / f"{name}-{digest[:16]}.json"
        self.password = password
        self.clock = clock

    def _credential_digest(self, salt: bytes) -> bytes:
        secret = json.dumps({**self.owner, "password": self.password}, sort_keys=True)
        return hashlib.scrypt(secret.encode(), salt=salt, **SCRYPT)

    def _made_by_us(self, credential) -> bool:
        """Whether the stored {salt, digest} is that of our credentials."""
        try:
            salt, digest = bytes.fromhex(credential["salt"]), bytes.fromhex(credential["digest"])
        except (TypeError, KeyError, ValueError):
            return False
        return hmac.compare_digest(self._credential_digest(salt), digest)

    def load(self) -> CachedToken | None:
        """The cached token if it is ours, private, and good for a while longer."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return None
        with os.fdopen(fd) as f:
            info = os.fstat(f.fileno())
            if info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
                return None  # someone else could have read or planted it
            try:
                data = json.load(f)
                if data.get("owner") != self.owner or not self._made_by_us(data.get("credential")):
                    return None
                cached = CachedToken(
                    data["token"],
                    float(data["expires_at"]),
                    data.get("user_id", ""),
                    data.get("project_id", ""),
                )
            except (ValueError, KeyError, TypeError, AttributeError):
                return None
        if cached.expires_at - EXPIRY_MARGIN <= self.clock():
            return None
        return cached

    def store(self, token: CachedToken) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.path.parent, 0o700)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)  # left by a crashed run with the same pid
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            with os.fdopen(fd, "w") as f:
                salt = os.urandom(16)
                credential = {"salt": salt.hex(), "digest": self._credential_digest(salt).hex()}
                json.dump(
                    {"owner": self.owner, "credential": credential, **dataclasses.asdict(token)}, f
                )
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def drop(self) -> None:
        self.path.unlink(missing_ok=True)
