"""What the scheduler knows about a host, and what a request asks for."""

from __future__ import annotations

from dataclasses import dataclass, field

from controller.compute.scheduler import capacity

AFFINITY = "affinity"
ANTI_AFFINITY = "anti-affinity"
SOFT_AFFINITY = "soft-affinity"
SOFT_ANTI_AFFINITY = "soft-anti-affinity"
GROUP_POLICIES = (AFFINITY, ANTI_AFFINITY, SOFT_AFFINITY, SOFT_ANTI_AFFINITY)


@dataclass(eq=False)
class HostState:
    """A snapshot of one compute host. Ratios are already resolved (per-host or default).

    Limits and free amounts are computed once at construction and kept current by `consume`,
    because filters and weighers read them for every host on every decision. Build a new
    HostState rather than changing totals or ratios in place.
    """

    host: str
    node_id: str = ""
    availability_zone: str = "nova"
    enabled: bool = True
    up: bool = True
    vcpus_total: int = 0
    vcpus_used: int = 0
    memory_mb_total: int = 0
    memory_mb_used: int = 0
    memory_mb_reserved: int = 0
    disk_gb_total: int = 0
    disk_gb_used: int = 0
    cpu_allocation_ratio: float = 4.0
    ram_allocation_ratio: float = 1.0
    disk_allocation_ratio: float = 1.0
    # (architecture, hypervisor_type) pairs the host can run, as Nova's supported_instances.
    supported_instances: tuple[tuple[str, str], ...] = ()
    hypervisor_type: str = ""
    num_instances: int = 0
    # derived in __post_init__, updated by consume()
    free_vcpus: int = field(init=False, default=0)
    free_memory_mb: int = field(init=False, default=0)
    free_disk_gb: int = field(init=False, default=0)

    def __post_init__(self):
        self._derive()

    def _derive(self) -> None:
        self.free_vcpus = capacity.free_vcpus(self)
        self.free_memory_mb = capacity.free_memory_mb(self)
        self.free_disk_gb = capacity.free_disk_gb(self)

    def consume(self, vcpus: int, memory_mb: int, disk_gb: int) -> None:
        """Accounts a claim locally so the next decision from this snapshot sees it."""
        self.vcpus_used += vcpus
        self.memory_mb_used += memory_mb
        self.disk_gb_used += disk_gb
        self.num_instances += 1
        self._derive()


@dataclass(frozen=True)
class ImageProps:
    """The image properties placement cares about; empty means no requirement."""

    architecture: str = ""
    hypervisor_type: str = ""
    min_ram_mb: int = 0
    min_disk_gb: int = 0


@dataclass
class GroupSpec:
    """The server group a request belongs to and where its members already are."""

    group_id: str
    policy: str
    # host's node_id -> number of members placed (claimed) there
    members_per_host: dict[str, int] = field(default_factory=dict)
    max_server_per_host: int = 1


@dataclass
class RequestSpec:
    """One server to place. Resources are what the claim will take on the chosen host."""

    instance_id: str
    project_id: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    availability_zone: str = ""
    image: ImageProps = field(default_factory=ImageProps)
    group: GroupSpec | None = None
    # hosts already tried for this server (a reschedule never returns to them)
    ignore_hosts: frozenset[str] = frozenset()

    @classmethod
    def for_flavor(
        cls,
        *,
        instance_id: str,
        project_id: str,
        vcpus: int,
        ram_mb: int,
        root_gb: int,
        ephemeral_gb: int = 0,
        swap_mb: int = 0,
        **kwargs,
    ) -> RequestSpec:
        """Disk counts root, ephemeral and swap, in whole GB, as the host's disk is counted."""
        swap_gb = -(-swap_mb // 1024)
        return cls(
            instance_id=instance_id,
            project_id=project_id,
            vcpus=vcpus,
            memory_mb=ram_mb,
            disk_gb=root_gb + ephemeral_gb + swap_gb,
            **kwargs,
        )
