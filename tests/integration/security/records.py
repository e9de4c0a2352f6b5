"""Compute hosts and server states written as records, for states no agent is there to reach."""

from __future__ import annotations

import time

from controller.compute.records import allocations, migrations, states
from controller.compute.records.models import ComputeNode, Instance
from tests.integration.compute.compute_support import add_hosts

POWER = {
    states.ACTIVE: states.RUNNING,
    states.STOPPED: states.SHUTDOWN,
    states.PAUSED: states.POWER_PAUSED,
    states.SUSPENDED: states.POWER_SUSPENDED,
    states.RESIZED: states.RUNNING,
    states.SHELVED_OFFLOADED: states.SHUTDOWN,
}


class RecordHosts:
    """`hosts(count, up=True, enabled=True) -> (zone, ids)`; `settle` moves a placed server
    to a state."""

    def __init__(self, db):
        self.db = db

    def __call__(self, count: int, up: bool = True, enabled: bool = True) -> tuple[str, list[str]]:
        # room for the hundreds of servers the matrix's rows make, one per allowed call
        zone, rows = add_hosts(
            self.db, count, up=up, enabled=enabled, vcpus=512, memory_mb=65536, disk_gb=1024
        )
        return zone, [r["id"] for r in rows]

    def settle(self, server_id: str, vm_state: str, node_id: str | None = None, timeout=30):
        """Waits until the scheduler has placed the server, then sets its state as a host's
        report would (and moves it to `node_id` when named)."""
        deadline = time.monotonic() + timeout
        while self.db.call(lambda: Instance.get_by_id(server_id).task_state) == states.SCHEDULING:
            if time.monotonic() > deadline:
                raise AssertionError(f"server {server_id} still scheduling after {timeout}s")
            time.sleep(0.02)
        values = dict(vm_state=vm_state, task_state=None, power_state=POWER[vm_state])
        if vm_state == states.SHELVED_OFFLOADED:  # its disk is an image: no host, no claim
            values.update(node_id=None, host=None)
            self.db.call(allocations.release, server_id)
        elif node_id:
            values.update(
                node_id=node_id, host=self.db.call(lambda: ComputeNode.get_by_id(node_id).hostname)
            )
        self.db.call(lambda: Instance.update(**values).where(Instance.id == server_id).execute())

    def finish_resize(self, server_id: str):
        """A placed server waiting for its resize's confirm (VERIFY_RESIZE), resized on its
        host to its own flavor, as a finished resize leaves the records."""
        self.settle(server_id, states.RESIZED)

        def finished():
            server = Instance.get_by_id(server_id)
            migration = migrations.start(server, migrations.flavor_of(server))
            migrations.advance(migration.id, migrations.FINISHED, dest_node_id=server.node_id)

        self.db.call(finished)
