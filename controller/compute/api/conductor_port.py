"""What the compute API asks of the conductor (docs/dev/compute-contract.md), and what runs
when no conductor is wired in.

The conductor area sets `app.compute_conductor` to an object with these coroutines; the API
calls them after committing the server's new task state:

    build(instance_id)                  returns at once; in the background places the server
                                        (app.compute_scheduling.schedule) and spawns it
    act(instance_id, action)            runs a states.Action on the server's host
    delete(instance_id)                 destroys it on its host, then lifecycle.mark_deleted
    console_output(instance_id, lines)  -> the last `lines` lines of the serial console
"""
from __future__ import annotations

from controller.compute.records import lifecycle
from stratus_common.errors import Unavailable


def unavailable() -> Unavailable:
    return Unavailable("no compute node service is running on this controller",
                       reason="CONDUCTOR_UNAVAILABLE")


class NoConductor:
    """A controller without the conductor area: servers are placed and claimed, but no node
    is asked to run them; actions are UNAVAILABLE, and a delete just frees the records."""

    available = False

    def __init__(self, db, build_queue):
        self.db = db
        self.build_queue = build_queue

    async def build(self, instance_id: str) -> None:
        self.build_queue.submit(instance_id)

    async def act(self, instance_id: str, action) -> None:
        raise unavailable()

    async def delete(self, instance_id: str) -> None:
        def finish():
            with self.db.write_transaction():
                lifecycle.mark_deleted(instance_id)
        await self.db.run(finish)

    async def console_output(self, instance_id: str, lines: int) -> str:
        raise unavailable()
