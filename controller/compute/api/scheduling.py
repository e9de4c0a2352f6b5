"""Placing BUILD servers: turns a server row into a RequestSpec and hands it to Placement.

The conductor calls `schedule` to place a server (and again, with the hosts already tried,
after a failed spawn), passing its spawn command to be written in the claim's transaction.
`BuildQueue` also places servers by itself when no conductor is wired in, so CreateServer
returns at once either way.
"""
from __future__ import annotations

import asyncio
import functools
import logging
from typing import Callable

from controller.compute.records import lifecycle, states
from controller.compute.api.batching import Batcher
from controller.compute.records.models import Instance, ServerGroup
from controller.compute.scheduler.claims import ServerGone
from controller.compute.records.allocations import group_members_per_node
from controller.compute.scheduler.host_state import GroupSpec, ImageProps, RequestSpec
from controller.compute.scheduler.placement import NoValidHost, Placed
from controller.compute.records.statements import OVER_IDS

log = logging.getLogger(__name__)

# Servers one claim transaction places at most. Each of them waits from its batch's selection
# to the batch's commit: at 1,000 hosts, batches of 8 halve that wait against batches of 32
# for the same throughput (bench/scheduler_bench.py).
MAX_BATCH = 8

# [(instance_id, node_id), ...]: more to write in the claim's transaction for the servers it
# placed (the conductor's spawns); one call per transaction for servers sharing one `then`
Then = Callable[[list[tuple[str, str]]], object]


class Gone(Exception):
    """The server is no longer waiting to be placed (deleted, or placed already)."""


def request_spec(instance_id: str, ignore_hosts=()) -> RequestSpec:
    """What placement needs of a server still waiting for a host (read on every attempt)."""
    row = _waiting_rows([instance_id]).get(instance_id)
    if row is None:
        raise Gone(instance_id)
    return _spec(instance_id, row, ignore_hosts)


def _waiting_rows(instance_ids: list[str]) -> dict[str, tuple]:
    """What placement reads of those of the servers still waiting for a host, in one
    statement."""
    return {row[0]: row[1:] for row in
            OVER_IDS.execute("specs", instance_ids, states.SCHEDULING).fetchall()}


def _spec(instance_id: str, row: tuple, ignore_hosts) -> RequestSpec:
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


def _record(instance_id: str, node_id: str, host: str, then: Then | None) -> bool:
    """In the claim's transaction: the server is on its host, and `then` writes what follows
    (as for a batch of one). False if it was deleted or placed meanwhile."""
    if instance_id not in lifecycle.lock_waiting([instance_id]):
        return False
    _record_batch({instance_id: then}, [(instance_id, node_id, host)])
    return True


def schedule_sync(db, placement, instance_id: str, ignore_hosts=(),
                  then: Then | None = None) -> Placed | None:
    """Places and claims, or puts the server in ERROR (No valid host was found). None when
    there is nothing to place (deleted meanwhile, or no host fits). `then([(instance_id,
    node_id)])` runs in the claim's transaction once the server is recorded on its host."""
    try:
        return placement.place(
            lambda: request_spec(instance_id, ignore_hosts),
            lambda node_id, host: _record(instance_id, node_id, host, then))
    except (Gone, ServerGone):
        return None
    except NoValidHost as refused:
        _refuse(db, [(instance_id, refused)])
        return None


def _refuse(db, refused: list[tuple[str, NoValidHost]]) -> None:
    """Servers nothing fits go to ERROR (No valid host was found), in one transaction; the
    log says why, per server and filter."""
    for instance_id, refusal in refused:
        log.warning("no valid host for server %s: %s", instance_id, refusal.details)
    with db.write_transaction():
        lifecycle.no_valid_host([instance_id for instance_id, _ in refused])


def _record_batch(thens: dict, placed: list[tuple[str, str, str]]) -> None:
    """_record for a batch's servers (their rows locked by lock_waiting): first what follows
    (each `then` once, for all its servers), then the servers' new state, which takes the
    revision counter only at the end."""
    together: dict[Then, list[tuple[str, str]]] = {}
    for instance_id, node_id, _ in placed:
        if thens[instance_id] is not None:
            together.setdefault(thens[instance_id], []).append((instance_id, node_id))
    for then, servers in together.items():
        then(servers)
    lifecycle.placed_many(placed)


def schedule_batch(db, placement, items: list[tuple[str, tuple, Then | None]]) -> list:
    """schedule_sync for many servers, (instance_id, ignore_hosts, then) each: those without
    a server group share one selection pass and one claim transaction; those that did not
    fit share a second, on a snapshot loaded for it, and those nothing fits even there share
    one refusal. The others (in a group, or whose candidates filled up meanwhile) are placed
    one by one. Per item: Placed, None, or the exception that placing it raised."""
    results: list = [None] * len(items)
    batched, alone, seen = [], [], set()
    rows = _waiting_rows(list({instance_id: None for instance_id, _, _ in items}))
    for i, (instance_id, ignore_hosts, _) in enumerate(items):
        row = rows.get(instance_id)
        if row is None:  # deleted, or placed already
            continue
        if instance_id in seen or row[-1]:  # asked twice (a sweep and a build), or in a group
            alone.append(i)
            continue
        seen.add(instance_id)
        batched.append((i, _spec(instance_id, row, ignore_hosts)))
    record = functools.partial(_record_batch, {items[i][0]: items[i][2] for i, _ in batched})
    refused: list[tuple[int, NoValidHost]] = []
    for fresh in (False, True):
        again = []
        for (i, spec), outcome in zip(batched, _together(placement, batched, record, fresh)):
            if isinstance(outcome, Placed):
                results[i] = outcome
            elif isinstance(outcome, NoValidHost):
                refused.append((i, outcome))
            elif outcome is None:
                again.append((i, spec))
        batched = again
    alone += [i for i, _ in batched]
    if refused:
        try:
            _refuse(db, [(items[i][0], refusal) for i, refusal in refused])
        except Exception as error:
            for i, _ in refused:
                results[i] = error
    for i in sorted(alone):
        try:
            results[i] = schedule_sync(db, placement, *items[i])
        except Exception as error:  # one bad server must not fail the others
            results[i] = error
    return results


def _together(placement, batched: list, record, fresh: bool) -> list:
    """placement.place_batch for (index, spec) pairs; all None if it failed as a whole."""
    if not batched:
        return []
    try:
        return placement.place_batch([spec for _, spec in batched], lifecycle.lock_waiting,
                                     record, fresh)
    except Exception:
        log.exception("placing %d servers together failed; placing them one by one",
                      len(batched))
        return [None] * len(batched)


class BuildQueue:
    """Servers waiting for placement: `workers` loops each place every server waiting at
    that moment (up to MAX_BATCH) with schedule_batch, in a database worker."""

    def __init__(self, db, placement, workers: int = 1):
        self._batcher = Batcher(db, functools.partial(schedule_batch, db, placement),
                                MAX_BATCH, workers)

    async def schedule(self, instance_id: str, ignore_hosts=(),
                       then: Then | None = None) -> Placed | None:
        return await self._batcher.submit((instance_id, tuple(ignore_hosts), then))

    def submit(self, instance_id: str) -> None:
        """Places the server without waiting for it (no conductor: nothing follows)."""
        self._batcher.submit_nowait((instance_id, (), None)).add_done_callback(
            lambda future, instance_id=instance_id: _log_failure(future, instance_id))

    async def run(self) -> None:
        await self._batcher.run()


def _log_failure(future: asyncio.Future, instance_id: str) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("placing server %s failed", instance_id, exc_info=future.exception())
