"""Compute hosts and server states written as records, for states no agent is there to reach."""

from __future__ import annotations

import time

from controller.compute.records import states
from controller.compute.records.models import ComputeNode, Instance
from tests.integration.compute.compute_support import add_hosts

POWER = {
    states.ACTIVE: states.RUNNING,
    states.STOPPED: states.SHUTDOWN,
    states.PAUSED: states.POWER_PAUSED,
    states.SUSPENDED: states.POWER_SUSPENDED,
}


class RecordHosts:
    """`hosts(count, up=True) -> (zone, ids)`; `settle` moves a placed server to a state."""

    def __init__(self, db):
        self.db = db

    def __call__(self, count: int, up: bool = True) -> tuple[str, list[str]]:
        zone, rows = add_hosts(self.db, count, up=up)
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
        if node_id:
            values.update(
                node_id=node_id, host=self.db.call(lambda: ComputeNode.get_by_id(node_id).hostname)
            )
        self.db.call(lambda: Instance.update(**values).where(Instance.id == server_id).execute())
