"""`stratus-dashboard` as a real child process, for the browser tests and the benchmark."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status == 200
    except OSError:
        return False


class DashboardProcess:
    """`stratus-dashboard` (python -m dashboard.main) on a free loopback port."""

    def __init__(self, directory: Path, controller_address: str):
        directory.mkdir(parents=True, exist_ok=True)
        self.config = directory / "dashboard.toml"
        self.config.write_text(
            f'[dashboard]\nlisten = "127.0.0.1:0"\ncontroller = "grpc://{controller_address}"\n'
            f'secret_key_file = "{directory / "secret"}"\nlog_level = "warning"\n'
        )
        self.log = directory / "dashboard.log"
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self, timeout: float = 60) -> DashboardProcess:
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "dashboard.main", "--config", str(self.config)],
                stdout=log,
                stderr=log,
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_text()
            match = re.search(r"serving at (http://\S+?)/?$", text, re.M)
            if match and _answers(match.group(1) + "/login"):
                self.url = match.group(1)
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"stratus-dashboard exited: {text}")
            time.sleep(0.1)
        raise TimeoutError(f"stratus-dashboard did not start: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)
