"""Shared pieces of the benchmarks: a real controller process and a bounded load loop."""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.controller import ControllerProcess, prepare, write_config


def start_controller(extra_config: str = "", database_url: str = "") -> ControllerProcess:
    """A real `stratus-controller` on a loopback port, bootstrapped, its state in a temp dir."""
    root = Path(tempfile.mkdtemp(prefix="stratus-bench-"))
    config = write_config(root / "state", database_url, extra=extra_config)
    prepare(config)
    return ControllerProcess(config, root / "controller.log").start()


def start_anchor(module: str, *args: str) -> tuple[subprocess.Popen, int]:
    """A bench server module (it prints "port N" once listening on loopback) in a child
    process, and its port."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline().split()[-1])


def start_bare_server() -> tuple[subprocess.Popen, str]:
    """bench/bare_server.py in a child process, and its address."""
    proc, port = start_anchor("bench.bare_server")
    return proc, f"127.0.0.1:{port}"


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    label: str
    calls: int
    seconds: float
    p50_ms: float
    p99_ms: float
    # CPU the server spent per call, when the load was given its pid: less sensitive than
    # the rate to other work on a shared machine.
    server_cpu_us: float | None = None

    @property
    def rate(self) -> float:
        return self.calls / self.seconds

    def line(self, baseline: Result | None = None) -> str:
        cpu = (
            f"  server {self.server_cpu_us:5.0f} us CPU/call"
            if self.server_cpu_us is not None
            else ""
        )
        ratio = ""
        if baseline:
            ratio = f"  ratio {self.rate / baseline.rate:5.2f}x of {baseline.label}"
            if self.server_cpu_us is not None and baseline.server_cpu_us:
                ratio += f" (CPU {self.server_cpu_us / baseline.server_cpu_us:4.2f}x)"
        return (
            f"{self.label:<44} {self.rate:9.0f}/s  "
            f"p50 {self.p50_ms:7.2f} ms  p99 {self.p99_ms:7.2f} ms"
            f"{cpu}{ratio}"
        )


async def load(
    label: str,
    call,
    concurrency: int,
    max_calls: int,
    max_seconds: float,
    server_pid: int | None = None,
) -> Result:
    """Runs `await call()` from `concurrency` tasks until max_calls or max_seconds, whichever
    comes first."""
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
    cpu_before = cpu_seconds(server_pid) if server_pid else 0.0
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    cpu = (cpu_seconds(server_pid) - cpu_before) / len(latencies) * 1e6 if server_pid else None
    cuts = statistics.quantiles(latencies, n=100)
    return Result(label, len(latencies), elapsed, cuts[49] * 1000, cuts[98] * 1000, cpu)


def run_for_seconds(run, description: str) -> None:
    """The command line of a benchmark whose one option is how long each figure is measured:
    `asyncio.run(run(seconds))`."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each measurement")
    asyncio.run(run(parser.parse_args().seconds))
