"""Selection for many requests of one shape (a batch of one flavor) on one host snapshot.

select_hosts runs every filter and weigher over every host for each request. Their verdicts
and raw weights depend only on the host and on the request's shape (every field but the
server's id), and a snapshot's hosts change only when a decision consumes them, so here they
are kept per shape and recomputed only for the host a decision consumed. What is left per
decision is the normalisation and the ranking, done exactly as select_hosts does them.
"""
from __future__ import annotations

from typing import Sequence

from controller.compute.scheduler.selector import Scheduler, WeighedHost
from controller.compute.scheduler.weighers import BaseHostWeigher


def shape(spec) -> tuple | None:
    """What filters and weighers may read of a request; None in a server group (the group's
    members move with every decision)."""
    if spec.group is not None:
        return None
    return (spec.project_id, spec.vcpus, spec.memory_mb, spec.disk_gb, spec.availability_zone,
            spec.image, spec.ignore_hosts)


class _Shape:
    """Verdicts and raw weights of every host for one shape."""

    def __init__(self, spec, scheduler: Scheduler, hosts: Sequence):
        self.spec = spec
        self.filters = [f for f in scheduler.filters if f.applies_to(spec)]
        self.weighers = [w for w in scheduler.weighers if w.applies_to(spec)]
        self.passes = [False] * len(hosts)
        self.raw = [[0.0] * len(hosts) for _ in self.weighers]
        for i, host in enumerate(hosts):
            self.update(i, host)

    def update(self, i: int, host) -> None:
        spec = self.spec
        self.passes[i] = (host.host not in spec.ignore_hosts
                          and all(f.host_passes(host, spec) for f in self.filters))
        for raw, w in zip(self.raw, self.weighers):
            raw[i] = w._weigh_object(host, spec)

    def totals(self, keep: list[int] | None) -> list[float]:
        """Summed normalised weights of the passing hosts (`keep`; None: all of them): the
        arithmetic of normalize() and select_hosts, in one pass per weigher."""
        totals = [0.0] * (len(self.passes) if keep is None else len(keep))
        for raw, w in zip(self.raw, self.weighers):
            values = raw if keep is None else [raw[i] for i in keep]
            lo = min(values) if w.minval is None else w.minval
            hi = max(values) if w.maxval is None else w.maxval
            if hi == lo:  # normalize() gives zeros: nothing to add
                continue
            span, m = float(hi - lo), w.multiplier
            totals = [t + m * ((v - lo) / span) for t, v in zip(totals, values)]
        return totals


class SnapshotSelection:
    """One snapshot's hosts, with the shapes decided on it so far. Not thread-safe: the
    caller holds its lock around candidates() and consume()."""

    def __init__(self, scheduler: Scheduler, hosts: list):
        self.scheduler = scheduler
        self.hosts = hosts
        self._index = {id(h): i for i, h in enumerate(hosts)}
        self._shapes: dict[tuple, _Shape] = {}
        # a weigher with its own weigh() may not be a sum of per-host raw weights
        self._cacheable = all(type(w).weigh is BaseHostWeigher.weigh
                              for w in scheduler.weighers)

    def candidates(self, spec, limit: int | None) -> list[WeighedHost]:
        """What scheduler.select_hosts(spec, hosts, limit) would return as candidates."""
        key = shape(spec) if self._cacheable else None
        if key is None:
            return self.scheduler.select_hosts(spec, self.hosts, limit).candidates
        entry = self._shapes.get(key)
        if entry is None:
            entry = self._shapes[key] = _Shape(spec, self.scheduler, self.hosts)
        if all(entry.passes):
            return self.scheduler.rank(self.hosts, entry.totals(None), limit)
        keep = [i for i, ok in enumerate(entry.passes) if ok]
        if not keep:
            return []
        return self.scheduler.rank([self.hosts[i] for i in keep], entry.totals(keep), limit)

    def consume(self, host_state, vcpus: int, memory_mb: int, disk_gb: int) -> None:
        """Accounts a claim on the snapshot, and re-evaluates that host for every shape."""
        host_state.consume(vcpus, memory_mb, disk_gb)
        i = self._index[id(host_state)]
        for entry in self._shapes.values():
            entry.update(i, host_state)
