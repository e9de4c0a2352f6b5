"""Page tokens as clients see them: sealed, so they can neither read nor forge one (AIP-158).

The paging layer (controller/db/paging.py) writes where a page ended and a digest of its
filters; the call pipeline seals every response's `next_page_token` with Fernet (authenticated
encryption) and opens every request's `page_token` before the handler runs. A token that does
not open is INVALID_ARGUMENT, so only positions this deployment wrote ever reach a query.

The keys are derived from the token key repository (KeyRepository.derived): replicas that
share the repository, as they must for tokens, accept each other's page tokens, and a token
minted before a key rotation still opens while its key is in force.
"""

from __future__ import annotations

import typing

from cryptography.fernet import InvalidToken, MultiFernet

from stratus_common.errors import InvalidArgument

PURPOSE = b"stratus page tokens v1"


class PageTokens:
    def __init__(self, keys: typing.Callable[[], MultiFernet]):
        self._keys = keys

    def seal(self, position: str) -> str:
        return self._keys().encrypt(position.encode()).decode().rstrip("=")

    def open(self, token: str) -> str:
        try:
            return self._keys().decrypt(token + "=" * (-len(token) % 4)).decode()
        except (InvalidToken, ValueError, TypeError):
            raise InvalidArgument("page_token", "is not a token this server issued") from None
