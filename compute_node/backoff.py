"""Exponential back-off with full jitter, for everything the node retries."""

from __future__ import annotations

import random


class Backoff:
    """A random delay up to the current ceiling, which doubles per attempt up to `maximum`."""

    def __init__(self, initial: float, maximum: float, rng: random.Random | None = None):
        self.initial, self.maximum = initial, maximum
        self.rng = rng or random.Random()
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.initial * (2**self.attempt))
        self.attempt += 1
        return self.rng.uniform(0, ceiling)

    def reset(self) -> None:
        self.attempt = 0
