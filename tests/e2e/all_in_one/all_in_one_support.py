"""`scripts/all-in-one` run for real, with its own state directory, port base, clouds.yaml
and CLI cache, all under a temporary directory."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from compute_node.drivers.libvirt.private_daemon import LibvirtDaemon
from tests.support.ports import free_port_pair

ROOT = Path(__file__).resolve().parents[3]
UP_TIMEOUT = 300


class AllInOne:
    def __init__(self, base: Path, hypervisor: str, **env: str):
        self.base = base
        self.state = base / "state"
        self.port = free_port_pair()
        self.cloud = f"all-in-one-{self.port}"
        self.clouds_yaml = base / "config" / "stratus" / "clouds.yaml"
        self.env = {**os.environ, "STRATUS_STATE_DIR": str(self.state),
                    "STRATUS_PORT_BASE": str(self.port), "STRATUS_HYPERVISOR": hypervisor,
                    "STRATUS_SKIP_INSTALL": "1", "XDG_CONFIG_HOME": str(base / "config"),
                    "XDG_CACHE_HOME": str(base / "cache"), **env}
        self.env.pop("STRATUS_CLOUD", None)

    def run(self, action: str, expect: int = 0) -> str:
        proc = subprocess.run([str(ROOT / "scripts" / "all-in-one"), action], cwd=self.base,
                              env=self.env, capture_output=True, text=True,
                              timeout=UP_TIMEOUT)
        output = proc.stdout + proc.stderr
        assert proc.returncode == expect, (action, proc.returncode, output)
        return output

    def cli(self, *argv) -> str:
        proc = subprocess.run([sys.executable, "-m", "cli", "--cloud", self.cloud,
                               *map(str, argv)], cwd=ROOT,
                              env={**self.env, "PYTHONPATH": str(ROOT)},
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, (argv, proc.stdout, proc.stderr)
        return proc.stdout.strip()

    def statuses(self) -> dict[str, str]:
        lines = self.cli("server", "list", "-f", "value", "-c", "Name", "-c", "Status")
        return dict(line.split() for line in lines.splitlines())

    def clean_up(self) -> None:
        """`down`, then whatever a failed run may have left: a private daemon, its QEMU."""
        try:
            self.run("down")
        finally:
            LibvirtDaemon(self.state / "libvirt").stop(shutdown_timeout=0)
            for name in ("compute", "controller"):
                try:
                    os.kill(int((self.state / f"{name}.pid").read_text()), 9)
                except (FileNotFoundError, ValueError, ProcessLookupError):
                    pass
