"""Placement: from a request to a claimed host, with retries on alternates.

Decisions are made on an in-memory snapshot of every host (as Nova's HostManager keeps one),
reloaded when it is older than `max_age` or after a lost race; the claim re-checks each pick
against the database under a lock, so a stale snapshot costs a retry, never an overcommit.
A request is refused (NoValidHost) only on a snapshot loaded for that very decision, so capacity
freed a moment ago is never missed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from controller.compute.scheduler.claims import (
    GONE,
    ClaimRefused,
    ClaimRequest,
    ClaimTarget,
    Pick,
    ServerGone,
    claim,
    claim_batch,
)
from controller.compute.scheduler.selector import Scheduler
from controller.compute.scheduler.shapes import SnapshotSelection
from controller.metrics import SCHEDULER_DECISION_DURATION, SCHEDULER_DECISIONS

log = logging.getLogger(__name__)

# Each lost race means another server's claim succeeded, so rounds are bounded by capacity;
# this cap only guards against a host that keeps failing claims for another reason.
MAX_ROUNDS = 30


class NoValidHost(Exception):
    """No host can take the server; `details` says why, per filter (for logs, not users)."""

    def __init__(self, details: str):
        super().__init__("No valid host was found")
        self.details = details


@dataclass(frozen=True)
class Placed:
    node_id: str
    host: str
    # claims tried (1 when the first choice held)
    attempts: int
    seconds: float


class DecisionStats:
    """Durations of recent decisions (select plus claim), for benchmarks, and the same counts
    for operators (controller.metrics)."""

    def __init__(self, keep: int = 100_000):
        self.durations: deque[float] = deque(maxlen=keep)
        self.placed = 0
        self.refused = 0
        self.lost_races = 0

    def reset(self) -> None:
        self.durations.clear()
        self.placed = self.refused = self.lost_races = 0

    def record_placed(self, seconds: float) -> None:
        self.placed += 1
        self.durations.append(seconds)
        _PLACED.inc()
        SCHEDULER_DECISION_DURATION.observe(seconds)

    def record_refused(self) -> None:
        self.refused += 1
        _REFUSED.inc()

    def record_lost_race(self) -> None:
        self.lost_races += 1
        _LOST_RACE.inc()


_PLACED = SCHEDULER_DECISIONS.labels("placed")
_REFUSED = SCHEDULER_DECISIONS.labels("no_valid_host")
_LOST_RACE = SCHEDULER_DECISIONS.labels("lost_race")


class Placement:
    def __init__(
        self,
        db,
        scheduler: Scheduler,
        hosts,
        *,
        max_age: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.db = db
        self.scheduler = scheduler
        self.hosts = hosts  # host records port: load(db), lock_capacities(db, node_ids)
        self.max_age = max_age
        self.clock = clock
        self.stats = DecisionStats()
        self._lock = threading.Lock()
        self._snapshot: SnapshotSelection | None = None
        self._loaded_at: float | None = None

    def invalidate(self) -> None:
        """The next decision reloads the snapshot (a host changed, a server was deleted)."""
        self._loaded_at = None

    def _hosts_locked(self, force: bool) -> tuple[SnapshotSelection, bool]:
        now = self.clock()
        if force or self._loaded_at is None or now - self._loaded_at > self.max_age:
            self._snapshot = SnapshotSelection(self.scheduler, self.hosts.load(self.db))
            self._loaded_at = now
            return self._snapshot, True
        return self._snapshot, False

    def place(self, build_spec: Callable[[], object], target: ClaimTarget | None = None) -> Placed:
        """Selects and claims a host for the request `build_spec()` returns (rebuilt on each
        round, so group membership is current); the target records the placement in the
        claim's transaction. Runs in a worker thread: it does I/O."""
        started = self.clock()
        attempts = 0
        force = False
        for _ in range(MAX_ROUNDS):
            spec = build_spec()
            with self._lock:
                snapshot, fresh = self._hosts_locked(force)
                selection = self.scheduler.select_hosts(
                    spec, snapshot.hosts, limit=self.scheduler.config.max_attempts
                )
            if not selection.candidates:
                if fresh:
                    self.stats.record_refused()
                    raise NoValidHost(selection.describe())  # the caller logs the reasons
                force = True
                continue
            request = _claim_request(spec)
            for candidate in selection.candidates:
                attempts += 1
                with self._lock:
                    # optimistic: the next decision in this process already sees it taken
                    snapshot.consume(candidate.host_state, spec.vcpus, spec.memory_mb, spec.disk_gb)
                try:
                    claim(
                        self.db,
                        self.hosts,
                        candidate.host_state.node_id,
                        request,
                        target,
                        candidate.host,
                    )
                except ClaimRefused as refused:
                    self.stats.record_lost_race()
                    log.debug("claim on %s lost: %s", candidate.host, refused.reason)
                    if isinstance(refused, ServerGone):
                        raise
                    continue
                seconds = self.clock() - started
                self.stats.record_placed(seconds)
                return Placed(candidate.host_state.node_id, candidate.host, attempts, seconds)
            force = True
        self.stats.record_refused()
        raise NoValidHost(f"every claim lost a race after {attempts} attempts")

    def place_batch(self, specs: list, target: ClaimTarget, fresh: bool = False) -> list:
        """Places servers without server groups with one selection each on the current
        snapshot (with `fresh`, one loaded for this batch) and one claim transaction for all
        (claims.claim_batch). Per spec: Placed; GONE; NoValidHost, with `fresh`, when nothing
        fits (the caller records the refusal); or None when it must be placed again (nothing
        fitted a snapshot not loaded for it, or every candidate filled up meanwhile). The
        target records the placements in the transaction. Runs in a worker thread: it does
        I/O."""
        started = self.clock()
        picks, chosen, states = [], [], {}
        results: dict[str, object] = {}
        with self._lock:
            snapshot, _ = self._hosts_locked(fresh)
            for spec in specs:
                candidates = snapshot.candidates(spec, self.scheduler.config.max_attempts)
                if not candidates:
                    if fresh:  # the reasons per filter, for the caller's log
                        self.stats.record_refused()
                        results[spec.instance_id] = NoValidHost(
                            self.scheduler.select_hosts(spec, snapshot.hosts).describe()
                        )
                    continue
                # optimistic, as in place(): the next spec of the batch sees it taken
                snapshot.consume(candidates[0].host_state, spec.vcpus, spec.memory_mb, spec.disk_gb)
                states.update((c.host_state.node_id, c.host_state) for c in candidates)
                picks.append(
                    Pick(_claim_request(spec), tuple(c.host_state.node_id for c in candidates))
                )
                chosen.append(spec)
        if picks:
            try:
                outcomes = claim_batch(
                    self.db,
                    self.hosts,
                    picks,
                    target,
                    {node_id: state.host for node_id, state in states.items()},
                )
            except Exception:
                self.invalidate()  # the batch's local consumption was never committed
                raise
            seconds = self.clock() - started
            for spec, pick, outcome in zip(chosen, picks, outcomes, strict=True):
                results[spec.instance_id] = self._settle(
                    snapshot, spec, pick, outcome, states, seconds
                )
        return [results.get(spec.instance_id) for spec in specs]

    def _settle(
        self, snapshot: SnapshotSelection, spec, pick: Pick, outcome, states: dict, seconds: float
    ):
        if outcome == GONE:
            return GONE
        if outcome is None:
            self.stats.record_lost_race()
            self.invalidate()
            return None
        if outcome != pick.node_ids[0]:
            with self._lock:  # the claim landed on an alternate: the snapshot follows
                snapshot.consume(states[outcome], spec.vcpus, spec.memory_mb, spec.disk_gb)
        self.stats.record_placed(seconds)
        return Placed(outcome, states[outcome].host, pick.node_ids.index(outcome) + 1, seconds)


def _claim_request(spec) -> ClaimRequest:
    group = spec.group
    return ClaimRequest(
        instance_id=spec.instance_id,
        project_id=spec.project_id,
        vcpus=spec.vcpus,
        memory_mb=spec.memory_mb,
        disk_gb=spec.disk_gb,
        group_id=group.group_id if group else None,
        group_policy=group.policy if group else None,
        max_server_per_host=group.max_server_per_host if group else 1,
    )
