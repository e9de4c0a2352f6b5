"""Wires the identity area into the controller."""

from pathlib import Path

from controller.auth.fernet_keys import KeyRepository
from controller.auth.token_format import TokenFormatter
from controller.identity import policies, revocations
from controller.identity.config import IdentitySection
from controller.identity.servicer import IdentityServicer
from controller.identity.tokens import TokenService
from controller.rpc.page_tokens import PURPOSE, PageTokens
from controller.shared_secrets import wiring
from stratus.identity.v1 import identity_service_pb2 as pb


def key_repository(config) -> KeyRepository:
    """The key repository directory on this host."""
    settings = config.section(IdentitySection)
    path = settings.key_repository or str(Path(config.controller.state_dir) / "fernet-keys")
    return KeyRepository(path, settings.max_active_keys)


def token_keys(config, db):
    """The token keys in force, loaded: the shared database key ring when [shared_secrets]
    store = database, else this host's key repository."""
    if wiring.in_database(config):
        ring = wiring.key_ring(config, config.section(IdentitySection).max_active_keys)
        db.call(ring.refresh)
        return ring
    keys = key_repository(config)
    keys.load()
    return keys


def setup(app):
    settings = app.config.section(IdentitySection)
    # refuses to start without keys: `stratus-manage token setup-keys`
    keys = token_keys(app.config, app.db)
    tokens = TokenService(app.db, TokenFormatter(keys), settings)
    app.tokens = tokens
    app.authenticate = tokens.validate
    app.page_tokens = PageTokens(lambda: keys.derived(PURPOSE))

    async def purge_revocations():
        await revocations.purge_forever(app.db, settings.revocation_purge_seconds)

    app.background.append(purge_revocations)
    app.enforcer.register(policies.RULES)
    app.add_public_service(
        IdentityServicer(app.db, tokens, settings),
        pb.DESCRIPTOR.services_by_name["IdentityService"],
    )
