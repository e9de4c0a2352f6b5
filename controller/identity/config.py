import dataclasses
import typing


@dataclasses.dataclass
class IdentitySection:
    """[identity]"""

    section: typing.ClassVar[str] = "identity"
    # Directory of Fernet keys; empty = <state_dir>/fernet-keys.
    key_repository: str = ""
    max_active_keys: int = 3
    # Token life in seconds (Keystone's default: 24 hours).
    token_expiration: int = 86400
    # How long a validated token is trusted without asking the database again. Revocations in
    # this process apply at once; other controller replicas see them within this time. The
    # same bound applies to the catalog and to GetProject's answers (project_reads.py).
    token_cache_seconds: float = 10.0
    token_cache_size: int = 100_000
    # How often expired token revocation events are deleted (also once at start).
    revocation_purge_seconds: float = 3600.0
    # Lock a user out after this many failed password attempts in a row (0: never).
    lockout_failure_attempts: int = 0
    lockout_duration: int = 1800
    minimum_password_length: int = 8
