"""Host selection for new servers: filters then weighers, as in Nova.

The scheduler only picks hosts. It reads HostState snapshots, never the database, so it is
plain Python that tests call directly; the claim (claims.py) is what makes a pick durable.
"""

from controller.compute.scheduler.config import SchedulerConfig
from controller.compute.scheduler.host_state import GroupSpec, HostState, ImageProps, RequestSpec
from controller.compute.scheduler.selector import Scheduler, Selection, WeighedHost, select_hosts

__all__ = [
    "GroupSpec",
    "HostState",
    "ImageProps",
    "RequestSpec",
    "Scheduler",
    "SchedulerConfig",
    "Selection",
    "WeighedHost",
    "select_hosts",
]
