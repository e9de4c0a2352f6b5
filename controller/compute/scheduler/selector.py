"""select_hosts: filter, weigh, order. Returns candidates and why the others were refused."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from controller.compute.scheduler.config import SchedulerConfig
from controller.compute.scheduler.registry import build_filters, build_weighers

# Rejections worded per filter: enough for a log line to say why, bounded on big clouds.
MAX_EXPLAINED = 10
IGNORED = "IgnoreHosts"


@dataclass
class WeighedHost:
    host_state: object
    weight: float

    @property
    def host(self) -> str:
        return self.host_state.host


@dataclass
class Selection:
    """Ordered candidates (best first) and, per filter, the hosts it refused."""

    candidates: list[WeighedHost] = field(default_factory=list)
    considered: int = 0
    rejected_count: dict[str, int] = field(default_factory=dict)
    # filter name -> [(host, reason)], at most MAX_EXPLAINED each
    reasons: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def hosts(self) -> list[str]:
        return [c.host for c in self.candidates]

    def describe(self) -> str:
        """One log line: how many hosts each filter removed, with sample reasons."""
        parts = []
        for name, count in self.rejected_count.items():
            samples = "; ".join(f"{h}: {r}" for h, r in self.reasons.get(name, []))
            more = f"; +{count - MAX_EXPLAINED} more" if count > MAX_EXPLAINED else ""
            parts.append(f"{name} rejected {count} ({samples}{more})")
        head = f"{len(self.candidates)} of {self.considered} hosts passed"
        return head if not parts else f"{head}; " + ", ".join(parts)


def _reject(selection: Selection, name: str, rejected, explain) -> None:
    if not rejected:
        return
    selection.rejected_count[name] = len(rejected)
    selection.reasons[name] = [(h.host, explain(h)) for h in rejected[:MAX_EXPLAINED]]


def select_hosts(
    request_spec,
    host_states: Sequence,
    *,
    filters,
    weighers,
    limit: int | None = None,
    host_subset_size: int = 1,
    shuffle_ties: bool = True,
    rng: random.Random | None = None,
) -> Selection:
    """Runs each filter over the hosts the previous ones kept, then orders the survivors by
    their combined normalised weight, best first; `limit` keeps only that many candidates.
    Never touches the database nor changes the host states."""
    rng = rng or random
    selection = Selection(considered=len(host_states))
    hosts = list(host_states)
    if request_spec.ignore_hosts:
        ignored = request_spec.ignore_hosts
        _reject(
            selection,
            IGNORED,
            [h for h in hosts if h.host in ignored],
            lambda h: "already tried for this server",
        )
        hosts = [h for h in hosts if h.host not in ignored]
    for f in filters:
        if not hosts:
            break
        if not f.applies_to(request_spec):
            continue
        passes = f.host_passes
        verdicts = [passes(h, request_spec) for h in hosts]
        if all(verdicts):
            continue
        _reject(
            selection,
            f.name,
            [h for h, ok in zip(hosts, verdicts, strict=True) if not ok],
            lambda h, f=f: f.explain(h, request_spec),
        )
        hosts = [h for h, ok in zip(hosts, verdicts, strict=True) if ok]
    if not hosts:
        return selection
    totals = [0.0] * len(hosts)
    for w in weighers:
        if w.applies_to(request_spec):
            totals = [t + v for t, v in zip(totals, w.weigh(hosts, request_spec), strict=True)]
    selection.candidates = rank(
        hosts,
        totals,
        limit=limit,
        host_subset_size=host_subset_size,
        shuffle_ties=shuffle_ties,
        rng=rng,
    )
    return selection


def rank(
    hosts: Sequence,
    totals: list[float],
    *,
    limit: int | None,
    host_subset_size: int,
    shuffle_ties: bool,
    rng,
) -> list[WeighedHost]:
    """The hosts that passed, best (highest total weight) first; `limit` keeps that many."""
    # Equal weights keep list order in the stable sort below; a random rotation of that
    # order makes every tied host equally likely to come first.
    cut = rng.randrange(len(hosts)) if shuffle_ties and len(hosts) > 1 else 0
    wanted = len(hosts) if limit is None else min(len(hosts), max(limit, host_subset_size))
    ranked = [WeighedHost(hosts[i], totals[i]) for i in _best(totals, wanted, cut)]
    if host_subset_size > 1:
        pick = rng.randrange(min(host_subset_size, len(ranked)))
        ranked.insert(0, ranked.pop(pick))
    return ranked if limit is None else ranked[:limit]


def _best(totals: list[float], wanted: int, cut: int) -> list[int]:
    """Indices of the `wanted` highest totals, best first, as a stable sort of the order
    cut, cut + 1, ..., 0, ..., cut - 1 ranks them. A few are found with max() and index(),
    which scan in C: a decision on a thousand hosts keeps three."""
    if wanted * 8 > len(totals):
        order = list(range(cut, len(totals))) + list(range(cut))
        negated = [-t for t in totals]
        order.sort(key=negated.__getitem__)
        return order[:wanted]
    left = list(totals)
    best = []
    for _ in range(wanted):
        top = max(left)
        try:
            i = left.index(top, cut)
        except ValueError:  # only before the cut
            i = left.index(top, 0, cut)
        best.append(i)
        left[i] = -math.inf
    return best


class Scheduler:
    """The configured filters and weighers, built once and shared by every request."""

    def __init__(self, config: SchedulerConfig | None = None, rng: random.Random | None = None):
        self.config = config or SchedulerConfig()
        self.filters = build_filters(self.config)
        self.weighers = build_weighers(self.config)
        self._rng = rng or random.Random()

    def select_hosts(
        self, request_spec, host_states: Sequence, limit: int | None = None
    ) -> Selection:
        return select_hosts(
            request_spec,
            host_states,
            filters=self.filters,
            weighers=self.weighers,
            limit=limit,
            host_subset_size=self.config.host_subset_size,
            shuffle_ties=self.config.shuffle_best_same_weighed_hosts,
            rng=self._rng,
        )

    def rank(
        self, hosts: Sequence, totals: list[float], limit: int | None = None
    ) -> list[WeighedHost]:
        return rank(
            hosts,
            totals,
            limit=limit,
            host_subset_size=self.config.host_subset_size,
            shuffle_ties=self.config.shuffle_best_same_weighed_hosts,
            rng=self._rng,
        )
