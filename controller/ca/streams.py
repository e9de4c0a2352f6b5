"""Open calls on the node listener, by certificate serial, so a revocation can cut them.

grpc cannot end a call from outside its handler by cancelling the handler's task: the
client would wait forever for a status. So `cut` first sends the status with the call's own
`context.abort` (it is sent at once, from any task of the loop), then cancels the handler's
task so its `finally` blocks run and it stops touching the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import grpc

from controller.ca.mtls import PeerIdentity

LOG = logging.getLogger(__name__)

REVOKED_DETAILS = "the client certificate was revoked; enroll the node again"


@dataclass(eq=False)
class OpenCall:
    identity: PeerIdentity
    context: grpc.aio.ServicerContext
    task: asyncio.Task


class StreamRegistry:
    """Every open call of the node listener, by serial. Used from the server's event loop."""

    def __init__(self):
        self._calls: dict[str, set[OpenCall]] = {}

    @contextlib.contextmanager
    def track(
        self,
        identity: PeerIdentity,
        context: grpc.aio.ServicerContext,
    ) -> Iterator[OpenCall]:
        call = OpenCall(identity, context, asyncio.current_task())
        self._calls.setdefault(identity.serial, set()).add(call)
        try:
            yield call
        finally:
            calls = self._calls.get(identity.serial)
            if calls is not None:
                calls.discard(call)
                if not calls:
                    del self._calls[identity.serial]

    def open_serials(self) -> set[str]:
        return set(self._calls)

    def calls_of(self, serial: str) -> list[OpenCall]:
        return list(self._calls.get(serial, ()))

    async def cut(self, serials: Iterable[str]) -> int:
        """End every open call of `serials` with UNAUTHENTICATED; return how many."""
        cut = 0
        for serial in set(serials):
            for call in list(self._calls.get(serial, ())):
                if not call.context.done():
                    with contextlib.suppress(Exception):  # AbortError is raised by design
                        await call.context.abort(grpc.StatusCode.UNAUTHENTICATED, REVOKED_DETAILS)
                if call.task is not asyncio.current_task():
                    call.task.cancel()
                cut += 1
                LOG.warning(
                    "cut a call from host %s: certificate %s revoked",
                    call.identity.host_name,
                    serial,
                )
        return cut
