"""Selection for many requests of one shape (a batch of one flavor) on one host snapshot.

select_hosts runs every filter and weigher over every host for each request. Their verdicts
and raw weights depend only on the host and on the request's shape (every field but the
server's id), and a snapshot's hosts change only when a decision consumes them, so here they
are kept per shape and recomputed only for the host a decision consumed, and so are the
normalised totals while no weigher's bounds move. What is left per decision is the ranking,
done exactly as select_hosts does it.
"""

from __future__ import annotations

from collections.abc import Sequence

from controller.compute.scheduler.selector import Scheduler, WeighedHost
from controller.compute.scheduler.weighers import BaseHostWeigher


def shape(spec) -> tuple | None:
    """What filters and weighers may read of a request; None in a server group (the group's
    members move with every decision)."""
    if spec.group is not None:
        return None
    return (
        spec.project_id,
        spec.vcpus,
        spec.memory_mb,
        spec.disk_gb,
        spec.availability_zone,
        spec.image,
        spec.ignore_hosts,
    )


class _Shape:
    """Verdicts of every host for one shape, and the raw weights and summed normalised
    weights (totals) of the hosts that pass. A decision changes one host: unless that moves
    a weigher's bounds, only that host's total is recomputed."""

    def __init__(self, spec, scheduler: Scheduler, hosts: Sequence):
        self.spec = spec
        self.hosts = hosts
        self.filters = [f for f in scheduler.filters if f.applies_to(spec)]
        self.weighers = [w for w in scheduler.weighers if w.applies_to(spec)]
        self.passes = [self._passes(host) for host in hosts]
        self._keep()

    def _passes(self, host) -> bool:
        return host.host not in self.spec.ignore_hosts and all(
            f.host_passes(host, self.spec) for f in self.filters
        )

    def _keep(self) -> None:
        """(Re)builds everything over the passing hosts."""
        keep = [i for i, ok in enumerate(self.passes) if ok]
        self.passing = [self.hosts[i] for i in keep]
        self._position = {i: p for p, i in enumerate(keep)}
        self._raw = [
            [w._weigh_object(host, self.spec) for host in self.passing] for w in self.weighers
        ]
        self._bounds: list | None = None
        self._totals: list[float] = []
        self._changed: set[int] = set()
        self._stale = False

    def update(self, i: int, host) -> None:
        passes = self._passes(host)
        if passes != self.passes[i]:
            self.passes[i] = passes
            self._stale = True
        elif passes and not self._stale:
            p = self._position[i]
            for raw, w in zip(self._raw, self.weighers, strict=True):
                raw[p] = w._weigh_object(host, self.spec)
            self._changed.add(p)

    def totals(self) -> list[float]:
        """Totals of `passing`, by the arithmetic of normalize() and select_hosts, operation
        for operation, so they are the very floats select_hosts computes."""
        if self._stale:
            self._keep()
        bounds = (
            [
                (
                    (min(raw) if w.minval is None else w.minval),
                    (max(raw) if w.maxval is None else w.maxval),
                )
                for raw, w in zip(self._raw, self.weighers, strict=True)
            ]
            if self.passing
            else []
        )
        if bounds != self._bounds:
            self._bounds = bounds
            self._totals = [self._total(p) for p in range(len(self.passing))]
        else:
            for p in self._changed:
                self._totals[p] = self._total(p)
        self._changed.clear()
        return self._totals

    def _total(self, p: int) -> float:
        total = 0.0
        for raw, w, (lo, hi) in zip(self._raw, self.weighers, self._bounds, strict=True):
            if hi != lo:  # normalize() gives zeros: nothing to add
                total = total + w.multiplier * ((raw[p] - lo) / float(hi - lo))
        return total


class SnapshotSelection:
    """One snapshot's hosts, with the shapes decided on it so far. Not thread-safe: the
    caller holds its lock around candidates() and consume()."""

    def __init__(self, scheduler: Scheduler, hosts: list):
        self.scheduler = scheduler
        self.hosts = hosts
        self._index = {id(h): i for i, h in enumerate(hosts)}
        self._shapes: dict[tuple, _Shape] = {}
        # a weigher with its own weigh() may not be a sum of per-host raw weights
        self._cacheable = all(type(w).weigh is BaseHostWeigher.weigh for w in scheduler.weighers)

    def candidates(self, spec, limit: int | None) -> list[WeighedHost]:
        """What scheduler.select_hosts(spec, hosts, limit) would return as candidates."""
        key = shape(spec) if self._cacheable else None
        if key is None:
            return self.scheduler.select_hosts(spec, self.hosts, limit).candidates
        entry = self._shapes.get(key)
        if entry is None:
            entry = self._shapes[key] = _Shape(spec, self.scheduler, self.hosts)
        totals = entry.totals()
        if not totals:
            return []
        return self.scheduler.rank(entry.passing, totals, limit)

    def consume(self, host_state, vcpus: int, memory_mb: int, disk_gb: int) -> None:
        """Accounts a claim on the snapshot, and re-evaluates that host for every shape."""
        host_state.consume(vcpus, memory_mb, disk_gb)
        i = self._index[id(host_state)]
        for entry in self._shapes.values():
            entry.update(i, host_state)
