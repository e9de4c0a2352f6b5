"""Wires the identity area into the controller."""

from pathlib import Path

from controller.auth.fernet_keys import KeyRepository
from controller.auth.token_format import TokenFormatter
from controller.identity import policies, revocations
from controller.identity.config import IdentitySection
from controller.identity.servicer import IdentityServicer
from controller.identity.tokens import TokenService
from controller.rpc.page_tokens import PURPOSE, PageTokens
from stratus.identity.v1 import identity_service_pb2 as pb


def key_repository(config) -> KeyRepository:
    settings = config.section(IdentitySection)
    path = settings.key_repository or str(Path(config.controller.state_dir) / "fernet-keys")
    return KeyRepository(path, settings.max_active_keys)


def setup(app):
    settings = app.config.section(IdentitySection)
    keys = key_repository(app.config)
    keys.load()  # refuses to start without keys: `stratus-manage token setup-keys`
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
