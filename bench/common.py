"""Shared pieces of the benchmarks: a real controller process and a bounded load loop."""
from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.controller import ControllerProcess, prepare, write_config


def start_controller(extra_config: str = "", database_url: str = "") -> ControllerProcess:
    """A real `stratus-controller` on a loopback port, bootstrapped, with its state in a temp dir."""
    root = Path(tempfile.mkdtemp(prefix="stratus-bench-"))
    config = write_config(root / "state", database_url, extra=extra_config)
    prepare(config)
    return ControllerProcess(config, root / "controller.log").start()


@dataclass
class Result:
    label: str
    calls: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.calls / self.seconds

    def line(self, baseline: "Result | None" = None) -> str:
        ratio = f"  ratio {self.rate / baseline.rate:5.2f}x of {baseline.label}" if baseline else ""
        return (f"{self.label:<44} {self.rate:9.0f}/s  p50 {self.p50_ms:7.2f} ms  p99 {self.p99_ms:7.2f} ms"
                f"{ratio}")


async def load(label: str, call, concurrency: int, max_calls: int, max_seconds: float) -> Result:
    """Runs `await call()` from `concurrency` tasks until max_calls or max_seconds, whichever first."""
    latencies: list[float] = []
    deadline = time.perf_counter() + max_seconds
    remaining = max_calls

    async def worker():
        nonlocal remaining
        while remaining > 0 and time.perf_counter() < deadline:
            remaining -= 1
            start = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - start)

    await call()  # warm the channel and the caches
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    cuts = statistics.quantiles(latencies, n=100)
    return Result(label, len(latencies), elapsed, cuts[49] * 1000, cuts[98] * 1000)
