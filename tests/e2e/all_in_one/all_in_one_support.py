"""`scripts/all-in-one` run for real, with its own state directory, port base, clouds.yaml
and CLI cache, all under a temporary directory; optionally inside a network namespace (it and
every command the test runs against it)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

from compute_node.drivers.libvirt.private_daemon import (
    SYSTEM_URI,
    LibvirtDaemon,
    answers,
    missing_tools,
)
from tests.support.ports import free_port, free_port_pair

ROOT = Path(__file__).resolve().parents[3]
UP_TIMEOUT = 300
BOOT_TIMEOUT = 180


def qemu_skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "the private libvirt daemon needs root"
    if missing_tools():
        return f"missing {', '.join(missing_tools())}"
    if answers(SYSTEM_URI):
        return "a system libvirtd answers: the all-in-one would use it, not a private one"
    return None


class AllInOne:
    def __init__(self, base: Path, hypervisor: str, *, netns: str | None = None, **env: str):
        self.base = base
        self.prefix = ["ip", "netns", "exec", netns] if netns else []
        self.state = base / "state"
        self.port = free_port_pair()
        self.cloud = f"all-in-one-{self.port}"
        self.clouds_yaml = base / "config" / "stratus" / "clouds.yaml"
        self.env = {
            **os.environ,
            "STRATUS_STATE_DIR": str(self.state),
            "STRATUS_PORT_BASE": str(self.port),
            "STRATUS_HYPERVISOR": hypervisor,
            "STRATUS_SKIP_INSTALL": "1",
            "STRATUS_DASHBOARD_PORT": str(free_port()),
            "XDG_CONFIG_HOME": str(base / "config"),
            "XDG_CACHE_HOME": str(base / "cache"),
            **env,
        }
        self.env.pop("STRATUS_CLOUD", None)

    def run(self, action: str, expect: int = 0) -> str:
        proc = subprocess.run(
            [*self.prefix, str(ROOT / "scripts" / "all-in-one"), action],
            cwd=self.base,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=UP_TIMEOUT,
            check=False,
        )
        output = proc.stdout + proc.stderr
        assert proc.returncode == expect, (action, proc.returncode, output)
        return output

    def cli(self, *argv) -> str:
        proc = subprocess.run(
            [*self.prefix, sys.executable, "-m", "cli", "--cloud", self.cloud, *map(str, argv)],
            cwd=ROOT,
            env={**self.env, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, (argv, proc.stdout, proc.stderr)
        return proc.stdout.strip()

    def wait_for_console(self, server, text, timeout=BOOT_TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        output = ""
        while time.monotonic() < deadline:
            output = self.cli("console", "log", "show", server)
            if text in output:
                return output
            time.sleep(1)
        raise AssertionError(f"{text!r} not on the console of {server}: {output[-2000:]!r}")

    def statuses(self) -> dict[str, str]:
        lines = self.cli("server", "list", "-f", "value", "-c", "Name", "-c", "Status")
        return dict(line.split() for line in lines.splitlines())

    def clean_up(self) -> None:
        """`down`, then whatever a failed run may have left: a private daemon, its QEMU, the
        guests' DHCP server."""
        try:
            self.run("down")
        finally:
            LibvirtDaemon(self.state / "libvirt").stop(shutdown_timeout=0)
            for pid_file in (
                "dashboard.pid",
                "compute.pid",
                "controller.pid",
                "network/dnsmasq.pid",
            ):
                with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
                    os.kill(int((self.state / pid_file).read_text()), 9)
