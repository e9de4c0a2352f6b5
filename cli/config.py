"""Where the client's settings come from: flags, then STRATUS_* environment variables, then
the selected cloud of clouds.yaml.

clouds.yaml (first found of $STRATUS_CLIENT_CONFIG_FILE, $XDG_CONFIG_HOME/stratus/clouds.yaml,
~/.config/stratus/clouds.yaml, /etc/stratus/clouds.yaml), in the shape of the openstack client's:

    clouds:
      all-in-one:
        auth:
          auth_url: grpcs://127.0.0.1:8770
          username: admin
          password: secret
          project_name: admin
        cacert: /var/lib/stratus/ca.pem

A cloud is selected with --cloud or STRATUS_CLOUD.
"""

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import yaml

from cli.errors import ConfigError

DEFAULT_TIMEOUT = 60.0


@dataclasses.dataclass(frozen=True)
class Setting:
    name: str  # attribute of Settings and of the parsed flags
    env: str
    cloud_key: tuple  # path inside a cloud's entry
    help: str


SETTINGS = (
    Setting(
        "url",
        "STRATUS_URL",
        ("auth", "auth_url"),
        "API address: host:port, grpc://host:port (plaintext) or grpcs://host:port (TLS)",
    ),
    Setting("username", "STRATUS_USERNAME", ("auth", "username"), "user name"),
    Setting("password", "STRATUS_PASSWORD", ("auth", "password"), "password"),
    Setting("project", "STRATUS_PROJECT", ("auth", "project_name"), "project name or ID"),
    Setting(
        "token",
        "STRATUS_TOKEN",
        ("auth", "token"),
        "an existing token, used instead of the password",
    ),
    Setting(
        "cacert",
        "STRATUS_CACERT",
        ("cacert",),
        "CA certificate (PEM) that signed the server's; implies TLS",
    ),
)


@dataclasses.dataclass(frozen=True)
class Settings:
    cloud: str | None = None
    url: str | None = None
    username: str | None = None
    password: str | None = None
    project: str | None = None
    token: str | None = None
    cacert: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    def require_url(self) -> str:
        if not self.url:
            raise ConfigError(
                "no API address: set STRATUS_URL, pass --url, or choose a cloud with --cloud"
            )
        return self.url


def config_file(env: Mapping[str, str]) -> Path | None:
    """The clouds.yaml in effect, or None when there is none."""
    if env.get("STRATUS_CLIENT_CONFIG_FILE"):
        return Path(env["STRATUS_CLIENT_CONFIG_FILE"])
    home = Path(env.get("HOME") or Path.home())
    config_home = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    for candidate in (config_home / "stratus" / "clouds.yaml", Path("/etc/stratus/clouds.yaml")):
        if candidate.is_file():
            return candidate
    return None


def load_clouds(path: Path | None) -> dict:
    if path is None:
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {' '.join(str(e).split())}") from None
    clouds = data.get("clouds") if isinstance(data, dict) else None
    if not isinstance(clouds, dict):
        raise ConfigError(f"{path}: expected a top-level 'clouds:' mapping")
    return clouds


def _lookup(entry: dict, key: tuple):
    for part in key:
        if not isinstance(entry, dict):
            return None
        entry = entry.get(part)
    return None if entry is None else str(entry)


def resolve(flags: Mapping[str, object], env: Mapping[str, str]) -> Settings:
    """Merges flags (None = not given), environment and the selected cloud, in that order."""
    cloud_name = flags.get("cloud") or env.get("STRATUS_CLOUD") or None
    entry: dict = {}
    if cloud_name:
        path = config_file(env)
        clouds = load_clouds(path)
        if cloud_name not in clouds:
            where = str(path) if path else "no clouds.yaml was found"
            known = ", ".join(sorted(clouds)) or "none"
            raise ConfigError(f"unknown cloud {cloud_name!r} ({where}; clouds: {known})")
        entry = clouds[cloud_name] or {}
        if not isinstance(entry, dict):
            raise ConfigError(f"cloud {cloud_name!r} in {path} is not a mapping")
    values = {}
    for setting in SETTINGS:
        for candidate in (
            flags.get(setting.name),
            env.get(setting.env),
            _lookup(entry, setting.cloud_key),
        ):
            if candidate not in (None, ""):
                values[setting.name] = str(candidate)
                break
    timeout = flags.get("timeout") or env.get("STRATUS_TIMEOUT") or DEFAULT_TIMEOUT
    try:
        timeout = float(timeout)
    except ValueError:
        raise ConfigError(f"timeout must be a number of seconds, not {timeout!r}") from None
    return Settings(cloud=cloud_name, timeout=timeout, **values)
