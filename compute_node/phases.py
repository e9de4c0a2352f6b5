"""Durations of the named steps of one operation, logged as `name=0.123s` fields so that
operators (and `bench/boot_bench.py`) see where a spawn's time goes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class Phases:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Adds the time spent inside to `name` (a step run twice counts twice)."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.monotonic() - started

    def fields(self) -> str:
        return " ".join(f"{name}={seconds:.3f}s" for name, seconds in self.seconds.items())


def parse(text: str) -> dict[str, float]:
    """The `name=0.123s` fields of a log line, as written by `Phases.fields`."""
    found = {}
    for word in text.split():
        name, sep, value = word.partition("=")
        if sep and value.endswith("s"):
            try:
                found[name] = float(value[:-1])
            except ValueError:
                continue
    return found
