"""`stratus-dashboard` as a real child process, for the browser tests and the benchmark."""

from __future__ import annotations

import os
import re
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _answers(url: str, context: ssl.SSLContext | None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5, context=context) as reply:
            return reply.status == 200
    except OSError:
        return False


class DashboardProcess:
    """`stratus-dashboard` (python -m dashboard.main) on a free loopback port."""

    def __init__(
        self, directory: Path, controller_address: str, tls: tuple[Path, Path] | None = None
    ):
        """`tls`: a certificate and its key, for HTTPS (the certificate is then trusted)."""
        directory.mkdir(parents=True, exist_ok=True)
        self.config = directory / "dashboard.toml"
        options = ""
        self.context = None
        if tls:
            options = f'tls_cert_file = "{tls[0]}"\ntls_key_file = "{tls[1]}"\n'
            self.context = ssl.create_default_context(cafile=str(tls[0]))
        self.config.write_text(
            f'[dashboard]\nlisten = "127.0.0.1:0"\ncontroller = "grpc://{controller_address}"\n'
            f'secret_key_file = "{directory / "secret"}"\nlog_level = "warning"\n{options}'
        )
        self.log = directory / "dashboard.log"
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self, timeout: float = 60, env: dict[str, str] | None = None) -> DashboardProcess:
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "dashboard.main", "--config", str(self.config)],
                stdout=log,
                stderr=log,
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_text()
            match = re.search(r"serving at (https?://\S+?)/?$", text, re.M)
            if match and _answers(match.group(1) + "/login", self.context):
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
