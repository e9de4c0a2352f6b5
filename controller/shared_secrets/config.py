import dataclasses
import typing


@dataclasses.dataclass
class SharedSecretsSection:
    """[shared_secrets]: where the Fernet token keys and the CA live (docs/adr/0013).

    "files" (the default, one controller): the key repository and the CA directory on this
    host. "database": in the database every replica shares, sealed with `sealing_key_file`;
    a rotation made on one replica reaches the others without copying files.
    """

    section: typing.ClassVar[str] = "shared_secrets"
    store: str = "files"
    # A file holding at least 32 bytes of secret (systemd: LoadCredential=). Secrets in the
    # database are encrypted with a key derived from it; the same file on every replica.
    sealing_key_file: str = ""
    # A token validated from the cache is honoured only if this replica read the key set's
    # revision from the database less than this many seconds ago (else it reads it first).
    # 0 reads it on every validation. A token not in the cache always reads it.
    key_check_seconds: float = 1.0
