"""End-to-end fixtures for the CLI: a real `stratus-controller` process (one per test
process), and the real `stratus` command run as a subprocess against it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.controller import ADMIN_PASSWORD, ControllerProcess, prepare, write_config

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def controller_process(tmp_path_factory):
    state = tmp_path_factory.mktemp("cli-controller")
    config = write_config(state, f"sqlite:///{state}/stratus.db")
    prepare(config)
    process = ControllerProcess(config, state / "controller.log").start()
    yield process
    process.terminate()


class Cli:
    """Runs `stratus` (python -m cli) with its own HOME and the given environment."""

    def __init__(self, home: Path, env: dict):
        self.home = home
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "PYTHONPATH": str(ROOT),
            "LANG": "C.UTF-8",
            **env,
        }

    def __call__(
        self, *argv, expect: int = 0, env: dict | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-m", "cli", *map(str, argv)],
            cwd=ROOT,
            env={**self.env, **(env or {})},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert "Traceback" not in proc.stderr, proc.stderr
        assert proc.returncode == expect, (argv, proc.returncode, proc.stdout, proc.stderr)
        return proc

    def on_pty(self, *argv, env: dict | None = None) -> tuple[int, str]:
        """Runs the command on a real terminal; its exit code and everything it showed."""
        from tests.unit.cli.terminal import run_on_pty

        return run_on_pty(
            [sys.executable, "-m", "cli", *map(str, argv)],
            cwd=ROOT,
            env={**self.env, **(env or {})},
        )

    def json(self, *argv, **kwargs):
        return json.loads(self(*argv, "-f", "json", **kwargs).stdout)

    def value(self, *argv, **kwargs) -> str:
        return self(*argv, "-f", "value", **kwargs).stdout.strip()


def serves(cli: Cli, *probe) -> bool:
    """Whether the controller offers the service that the probe command calls."""
    proc = subprocess.run(
        [sys.executable, "-m", "cli", *probe],
        cwd=ROOT,
        env=cli.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return not proc.stderr.startswith("stratus: UNIMPLEMENTED")


@pytest.fixture
def cli(tmp_path, controller_process):
    """The CLI as the admin, configured by STRATUS_* variables."""
    home = tmp_path / "home"
    home.mkdir()
    return Cli(
        home,
        {
            "STRATUS_URL": controller_process.address,
            "STRATUS_USERNAME": "admin",
            "STRATUS_PASSWORD": ADMIN_PASSWORD,
            "STRATUS_PROJECT": "admin",
        },
    )
