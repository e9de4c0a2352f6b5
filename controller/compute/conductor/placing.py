"""Placing BUILD servers: the conductor hands each server waiting for a host to the
scheduler's Placement and writes, in the very transaction of its claim, the server's new
state and its spawn command; servers nothing fits go to ERROR (No valid host was found).

`BuildQueue` places every server waiting at that moment together (schedule_batch), in a
database worker; the conductor awaits one server's outcome from it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from controller.compute.records import lifecycle
from controller.compute.scheduler import specs
from controller.compute.scheduler.claims import ServerGone
from controller.compute.scheduler.placement import NoValidHost, Placed, Placement
from controller.db.batching import Batcher

log = logging.getLogger(__name__)

# Servers one claim transaction places at most. Each of them waits from its batch's selection
# to the batch's commit: at 1,000 hosts, batches of 8 halve that wait against batches of 32
# for the same throughput (bench/scheduler_bench.py).
MAX_BATCH = 8

# Writes the spawn commands of servers, (instance_id, node_id) each, that a claim just placed:
# in the claim's transaction, which holds their rows.
SpawnWriter = Callable[[list[tuple[str, str]]], None]


class PlacedServers:
    """The claim target for server rows: a placement records the servers' hosts and their
    spawns; the spawns first, then the state change, which takes the revision counter last."""

    def __init__(self, write_spawns: SpawnWriter):
        self._write_spawns = write_spawns

    def waiting(self, instance_ids: list[str]) -> set[str]:
        return lifecycle.lock_waiting(instance_ids)

    def record(self, placed: list[tuple[str, str, str]]) -> None:
        self._write_spawns([(instance_id, node_id) for instance_id, node_id, _ in placed])
        lifecycle.placed_many(placed)


def schedule_one(
    db, placement: Placement, servers: PlacedServers, instance_id: str, ignore_hosts=()
) -> Placed | None:
    """Places and claims, or puts the server in ERROR (No valid host was found). None when
    there is nothing to place (deleted meanwhile, or no host fits)."""
    try:
        return placement.place(lambda: specs.request_spec(instance_id, ignore_hosts), servers)
    except (specs.Gone, ServerGone):
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


def schedule_batch(
    db, placement: Placement, servers: PlacedServers, items: list[tuple[str, tuple]]
) -> list:
    """schedule_one for many servers, (instance_id, ignore_hosts) each: those without a
    server group share one selection pass and one claim transaction; those that did not fit
    share a second, on a snapshot loaded for it, and those nothing fits even there share one
    refusal. The others (in a group, or whose candidates filled up meanwhile) are placed one
    by one. Per item: Placed, None, or the exception that placing it raised."""
    results: list = [None] * len(items)
    batched, alone, seen = [], [], set()
    rows = specs.waiting_rows(list({instance_id: None for instance_id, _ in items}))
    for i, (instance_id, ignore_hosts) in enumerate(items):
        row = rows.get(instance_id)
        if row is None:  # deleted, or placed already
            continue
        if instance_id in seen or specs.in_group(row):  # asked twice (a sweep and a build)
            alone.append(i)
            continue
        seen.add(instance_id)
        batched.append((i, specs.spec(instance_id, row, ignore_hosts)))
    refused: list[tuple[int, NoValidHost]] = []
    for fresh in (False, True):
        again = []
        for (i, spec), outcome in zip(
            batched, _together(placement, servers, batched, fresh), strict=True
        ):
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
        except Exception as error:  # noqa: BLE001 - each caller hears of its own failure
            for i, _ in refused:
                results[i] = error
    for i in sorted(alone):
        try:
            results[i] = schedule_one(db, placement, servers, *items[i])
        except Exception as error:  # noqa: BLE001 - one bad server must not fail the others
            results[i] = error
    return results


def _together(placement: Placement, servers: PlacedServers, batched: list, fresh: bool) -> list:
    """placement.place_batch for (index, spec) pairs; all None if it failed as a whole."""
    if not batched:
        return []
    try:
        return placement.place_batch([spec for _, spec in batched], servers, fresh)
    except Exception:
        log.exception("placing %d servers together failed; placing them one by one", len(batched))
        return [None] * len(batched)


class BuildQueue:
    """Servers waiting for placement: `workers` loops each place every server waiting at
    that moment (up to MAX_BATCH) with schedule_batch, in a database worker."""

    def __init__(self, db, placement: Placement, write_spawns: SpawnWriter, workers: int = 1):
        self._batcher = Batcher(
            db,
            functools.partial(schedule_batch, db, placement, PlacedServers(write_spawns)),
            MAX_BATCH,
            workers,
        )

    async def schedule(self, instance_id: str, ignore_hosts=()) -> Placed | None:
        return await self._batcher.submit((instance_id, tuple(ignore_hosts)))

    async def run(self) -> None:
        await self._batcher.run()
