"""Placing BUILD servers: turns a server row into a RequestSpec and hands it to Placement.

The conductor calls `schedule` to place a server (and again, with the hosts already tried,
after a failed spawn), passing its spawn command to be written in the claim's transaction.
`BuildQueue` also places servers by itself when no conductor is wired in, so CreateServer
returns at once either way.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

from controller.compute.api import lifecycle, states
from controller.compute.api.models import Instance, ServerGroup
from controller.compute.scheduler import sql
from controller.compute.scheduler.claims import ServerGone, group_members_per_node
from controller.compute.scheduler.host_state import GroupSpec, ImageProps, RequestSpec
from controller.compute.scheduler.placement import NoValidHost, Placed

log = logging.getLogger(__name__)

# (instance_id, node_id): more to write in the claim's transaction (the conductor's spawn)
Then = Callable[[str, str], object]


class Gone(Exception):
    """The server is no longer waiting to be placed (deleted, or placed already)."""


def request_spec(instance_id: str, ignore_hosts=()) -> RequestSpec:
    """What placement needs of a server still waiting for a host (read on every attempt)."""
    row = sql.execute("spec", instance_id, states.SCHEDULING).fetchone()
    if row is None:
        raise Gone(instance_id)
    project_id, vcpus, ram_mb, disk_gb, ephemeral_gb, swap_mb, zone, image, group_id = row
    props = Instance.image_properties.python_value(image) or {}
    group = None
    if group_id:
        g = ServerGroup.get_or_none(ServerGroup.id == group_id)
        if g is not None:
            group = GroupSpec(g.id, g.policy, group_members_per_node(g.id),
                              g.max_server_per_host)
    root = disk_gb or int(props.get("size_gb", 0))
    return RequestSpec.for_flavor(
        instance_id=instance_id, project_id=project_id, vcpus=vcpus, ram_mb=ram_mb,
        root_gb=root, ephemeral_gb=ephemeral_gb, swap_mb=swap_mb, availability_zone=zone,
        image=ImageProps(architecture=props.get("architecture", ""),
                         hypervisor_type=props.get("hypervisor_type", ""),
                         min_ram_mb=int(props.get("min_ram_mb", 0)),
                         min_disk_gb=int(props.get("min_disk_gb", 0))),
        group=group, ignore_hosts=frozenset(ignore_hosts))


def schedule_sync(db, placement, instance_id: str, ignore_hosts=(),
                  then: Then | None = None) -> Placed | None:
    """Places and claims, or puts the server in ERROR (No valid host was found). None when
    there is nothing to place (deleted meanwhile, or no host fits). `then(instance_id,
    node_id)` runs in the claim's transaction once the server is recorded on its host."""
    def on_claimed(node_id: str, host: str) -> bool:
        if not lifecycle.placed(instance_id, node_id, host):
            return False
        if then is not None:
            then(instance_id, node_id)
        return True

    try:
        return placement.place(lambda: request_spec(instance_id, ignore_hosts), on_claimed)
    except (Gone, ServerGone):
        return None
    except NoValidHost as refused:
        log.warning("no valid host for server %s: %s", instance_id, refused.details)
        with db.write_transaction():
            lifecycle.no_valid_host(instance_id)
        return None


class BuildQueue:
    """Servers waiting for placement, served by a few tasks that run it in DB worker threads."""

    def __init__(self, db, placement, workers: int = 4):
        self.db = db
        self.placement = placement
        self.workers = workers
        self.queue: asyncio.Queue[tuple[str, tuple]] = asyncio.Queue()

    async def schedule(self, instance_id: str, ignore_hosts=(),
                       then: Then | None = None) -> Placed | None:
        return await self.db.run(schedule_sync, self.db, self.placement, instance_id,
                                 tuple(ignore_hosts), then)

    def submit(self, instance_id: str) -> None:
        self.queue.put_nowait((instance_id, ()))

    async def run(self) -> None:
        await asyncio.gather(*(self._worker() for _ in range(self.workers)))

    async def _worker(self) -> None:
        while True:
            instance_id, ignore = await self.queue.get()
            try:
                await self.schedule(instance_id, ignore)
            except Exception:  # one bad server must not stop placement for the others
                log.exception("placing server %s failed", instance_id)
            finally:
                self.queue.task_done()
