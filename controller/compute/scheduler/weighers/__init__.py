"""Host weighers. A weigher overrides `_weigh_object`; its raw weights are normalised to
[0, 1] across the candidate hosts, then scaled by its multiplier and summed (Nova's rule),
so weighers in different units (MB, cores, members) combine fairly."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar


def normalize(
    weights: Sequence[float], minval: float | None = None, maxval: float | None = None
) -> list[float]:
    """Scales to [0, 1]; all-equal weights give all zeros, so they cannot decide anything."""
    if not weights:
        return []
    lo = min(weights) if minval is None else minval
    hi = max(weights) if maxval is None else maxval
    if hi == lo:
        return [0.0] * len(weights)
    span = float(hi - lo)
    return [(w - lo) / span for w in weights]


class BaseHostWeigher:
    """Higher weight wins. A negative multiplier reverses a weigher (pack instead of spread)."""

    name: ClassVar[str] = ""
    # fixed bounds for normalisation; None means the min/max over the candidates
    minval: float | None = None
    maxval: float | None = None

    def __init__(self, multiplier: float = 1.0):
        self.multiplier = float(multiplier)

    def _weigh_object(self, host_state, request_spec) -> float:
        raise NotImplementedError

    def applies_to(self, request_spec) -> bool:
        """False when every host would weigh the same for this request (so it cannot matter)."""
        return True

    def weigh(self, hosts, request_spec) -> list[float]:
        """Normalised weights of `hosts`, multiplier applied."""
        raw = [self._weigh_object(h, request_spec) for h in hosts]
        return [self.multiplier * w for w in normalize(raw, self.minval, self.maxval)]
