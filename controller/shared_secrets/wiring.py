"""Which store holds the secrets replicas share ([shared_secrets] store), and the objects
that read them: the token keys for identity, the CA for the certificate authority."""

from __future__ import annotations

from controller.shared_secrets.config import SharedSecretsSection
from controller.shared_secrets.key_ring import DatabaseKeyRing
from controller.shared_secrets.sealing import Sealer
from controller.shared_secrets.store import SecretStore

STORES = ("files", "database")


def in_database(config) -> bool:
    store = config.section(SharedSecretsSection).store
    if store not in STORES:
        raise ValueError(f"[shared_secrets] store {store!r}: choose one of {', '.join(STORES)}")
    return store == "database"


def secret_store(config) -> SecretStore:
    return SecretStore(Sealer.from_file(config.section(SharedSecretsSection).sealing_key_file))


def key_ring(config, max_active_keys: int) -> DatabaseKeyRing:
    """The database key ring (not loaded: call its load() inside a connection context)."""
    return DatabaseKeyRing(
        secret_store(config),
        max_active_keys,
        config.section(SharedSecretsSection).key_check_seconds,
    )
