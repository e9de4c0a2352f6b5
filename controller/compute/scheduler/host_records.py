"""The host records port: what the scheduler reads of compute hosts, and the row the claim
locks. One adapter, over the conductor's compute_node table (docs/dev/compute-contract.md);
the claim and the snapshot only see this."""

from __future__ import annotations

import datetime

from peewee import fn

from controller.compute.records import liveness
from controller.compute.records.models import Allocation, ComputeNode
from controller.compute.records.statements import OVER_IDS
from controller.compute.scheduler.capacity import Capacity
from controller.compute.scheduler.host_state import HostState
from controller.db.prepared import Prepared
from controller.db.queries import utcnow

# The snapshot: every host, and what is allocated on each.
_HOSTS = Prepared(
    lambda: ComputeNode.select(
        ComputeNode.id,
        ComputeNode.hostname,
        ComputeNode.availability_zone,
        ComputeNode.enabled,
        ComputeNode.heartbeat_at,
        ComputeNode.forced_down,
        ComputeNode.vcpus,
        ComputeNode.memory_mb,
        ComputeNode.memory_mb_reserved,
        ComputeNode.disk_gb,
        ComputeNode.cpu_allocation_ratio,
        ComputeNode.ram_allocation_ratio,
        ComputeNode.disk_allocation_ratio,
        ComputeNode.architecture,
        ComputeNode.hypervisor_type,
    )
)
_USED = Prepared(
    lambda: Allocation.select(
        Allocation.node_id,
        fn.SUM(Allocation.vcpus),
        fn.SUM(Allocation.memory_mb),
        fn.SUM(Allocation.disk_gb),
        fn.COUNT(1),
    ).group_by(Allocation.node_id)
)


class HostRecords:
    def __init__(self, config, service_down_time: float = 60.0, clock=utcnow):
        self.config = config  # SchedulerConfig: default allocation ratios
        self.service_down_time = service_down_time
        self.clock = clock

    def is_up(self, heartbeat_at: datetime.datetime | None, forced_down: bool = False) -> bool:
        """Up when the last heartbeat is recent and no operator forced the host down."""
        return liveness.is_up(heartbeat_at, forced_down, self.clock(), self.service_down_time)

    def load(self, db) -> list[HostState]:
        """Every host with its committed allocations, as a fresh snapshot. Read with
        prepared statements: a reload holds up the decisions waiting behind it."""
        used = {row[0]: row[1:] for row in _USED.execute().fetchall()}
        config = self.config
        heartbeat = ComputeNode.heartbeat_at.python_value
        hosts = []
        for (
            node_id,
            hostname,
            zone,
            enabled,
            heartbeat_at,
            forced_down,
            vcpus,
            memory_mb,
            reserved,
            disk_gb,
            cpu_ratio,
            ram_ratio,
            disk_ratio,
            architecture,
            hypervisor_type,
        ) in _HOSTS.execute().fetchall():
            v, m, d, count = used.get(node_id, (0, 0, 0, 0))
            hosts.append(
                HostState(
                    host=hostname,
                    node_id=node_id,
                    availability_zone=zone,
                    enabled=bool(enabled),
                    up=self.is_up(heartbeat(heartbeat_at), bool(forced_down)),
                    vcpus_total=vcpus,
                    vcpus_used=int(v),
                    memory_mb_total=memory_mb,
                    memory_mb_used=int(m),
                    memory_mb_reserved=reserved,
                    disk_gb_total=disk_gb,
                    disk_gb_used=int(d),
                    cpu_allocation_ratio=cpu_ratio or config.cpu_allocation_ratio,
                    ram_allocation_ratio=ram_ratio or config.ram_allocation_ratio,
                    disk_allocation_ratio=disk_ratio or config.disk_allocation_ratio,
                    supported_instances=((architecture, hypervisor_type),),
                    hypervisor_type=hypervisor_type,
                    num_instances=int(count),
                )
            )
        return hosts

    def lock_capacities(self, db, node_ids: list[str]) -> dict[str, Capacity | None]:
        """Locks the hosts' rows in id order (inside the claim's transaction); per host, its
        totals and ratios, or None when it is gone or disabled. Every id is a key."""
        found = {
            row[0]: self._capacity(row[1:])
            for row in OVER_IDS.execute("nodes", sorted(node_ids)).fetchall()
        }
        return {node_id: found.get(node_id) for node_id in node_ids}

    def _capacity(self, row) -> Capacity | None:
        vcpus, memory_mb, disk_gb, cpu_ratio, ram_ratio, disk_ratio, reserved, enabled = row
        if not enabled:
            return None
        defaults = self.config
        return Capacity(
            vcpus_total=vcpus,
            memory_mb_total=memory_mb,
            disk_gb_total=disk_gb,
            cpu_allocation_ratio=cpu_ratio or defaults.cpu_allocation_ratio,
            ram_allocation_ratio=ram_ratio or defaults.ram_allocation_ratio,
            disk_allocation_ratio=disk_ratio or defaults.disk_allocation_ratio,
            memory_mb_reserved=reserved,
        )
