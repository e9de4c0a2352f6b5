"""A real controller for tests: in-process on a background event loop, or as a real process.

Both listen on loopback port 0 and are built exactly as `stratus-controller` builds itself:
the schema is migrated, Fernet keys are created and the cloud is bootstrapped first.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parents[2]

ADMIN_PASSWORD = "admin-secret-pw"


def write_config(
    state_dir: Path, database_url: str = "", listen: str = "127.0.0.1:0", extra: str = ""
) -> Path:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "controller.toml"
    path.write_text(
        f'[controller]\nlisten = "{listen}"\nstate_dir = "{state_dir}"\nshutdown_grace = 2.0\n'
        f'[database]\nurl = "{database_url}"\n[logging]\nlevel = "warning"\n{extra}'
    )
    return path


_MANAGE_MANY = """
import contextlib, io, json, sys
from controller import manage
results = []
for argv in json.loads(sys.argv[2]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = manage.main(["--config", sys.argv[1], *argv])
    results.append([code, out.getvalue(), err.getvalue()])
print(json.dumps(results))
"""


def manage_many(config: Path, *commands: list[str]) -> list[subprocess.CompletedProcess]:
    """Several `stratus-manage` commands in turn, through its real main(), in one child process.

    A child process, because stratus-manage binds the process's one database proxy and this
    test process may already serve another database; one, to pay for one start-up.
    """
    done = subprocess.run(
        [sys.executable, "-c", _MANAGE_MANY, str(config), json.dumps(commands)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"stratus-manage runner failed: {done.stderr}")
    return [
        subprocess.CompletedProcess(["stratus-manage", *argv], code, out, err)
        for argv, (code, out, err) in zip(
            commands, json.loads(done.stdout.splitlines()[-1]), strict=True
        )
    ]


def prepare(config_path: Path, public_url: str = "grpc://127.0.0.1:0"):
    """db sync, token setup-keys and bootstrap, through the real `stratus-manage` code."""
    for step in manage_many(
        config_path,
        ["db", "sync"],
        ["token", "setup-keys"],
        ["bootstrap", f"--admin-password={ADMIN_PASSWORD}", "--public-url", public_url],
    ):
        if step.returncode != 0:
            raise RuntimeError(f"{' '.join(step.args)} failed: {step.stdout}{step.stderr}")


class InProcessController:
    """The controller's App and listener on an event loop (the one its configuration names)
    in a daemon thread."""

    def __init__(self, config_path: Path):
        from controller.config import Config
        from controller.main import event_loop_factory

        self.config_path = config_path
        self.loop = event_loop_factory(Config.load(config_path).controller.event_loop)()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="controller")
        self.app = None
        self.server = None
        self.port = None

    def start(self):
        from controller.app import App
        from controller.config import Config
        from controller.server import ControllerServer

        self.thread.start()

        async def boot():
            self.app = App(Config.load(self.config_path))
            self.server = ControllerServer(self.app)
            self.port = await self.server.start()

        self.run(boot())
        return self

    def run(self, coro, timeout: float = 60):
        """Runs a coroutine on the controller's loop from the test thread."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self):
        if self.server is not None:
            self.run(self.server.stop(grace=1))
        if self.app is not None:
            self.app.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class ControllerProcess:
    """`stratus-controller` as a real child process; its log is kept for assertions."""

    def __init__(
        self,
        config_path: Path,
        log_path: Path,
        file_size_limit: int | None = None,
        prefix: tuple[str, ...] = (),
    ):
        self.config_path = config_path
        self.log_path = log_path
        self.file_size_limit = file_size_limit  # RLIMIT_FSIZE: no file of it grows past this
        self.prefix = prefix  # e.g. `ip netns exec NS`: where the controller runs
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30, env: dict[str, str] | None = None):
        config = self.config_path.read_text()
        self.log_path.write_text("")
        env = {**os.environ, "STRATUS_LOGGING_LEVEL": "info", **(env or {})}
        command = [sys.executable, "-m", "controller.main", "--config", str(self.config_path)]
        if self.file_size_limit is not None:  # prlimit sets it, then execs the controller
            command = ["prlimit", f"--fsize={self.file_size_limit}", "--", *command]
        command = [*self.prefix, *command]
        with open(self.log_path, "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(command, stdout=log, stderr=log, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(r"public listener serving.* port=(\d+)", self.log_path.read_text())
            if match:
                self.port = int(match.group(1))
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"controller exited: {self.log_path.read_text()}")
            time.sleep(0.05)
        raise TimeoutError(f"controller did not start: {self.log_path.read_text()} ({config})")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def terminate(self, timeout: float = 20) -> int:
        self.proc.terminate()
        return self.proc.wait(timeout)

    def kill(self):
        self.proc.kill()
        self.proc.wait(10)


def wait_for_channel(address: str, timeout: float = 10) -> grpc.Channel:
    channel = grpc.insecure_channel(address)
    grpc.channel_ready_future(channel).result(timeout)
    return channel
