"""The processes as systemd runs them (Type=notify): a real controller and a real node agent,
each started with $NOTIFY_SOCKET bound by the test as systemd would bind it.

READY=1 must come only once every listener accepts connections (the controller) and once the
controller welcomed the stream (the node); WATCHDOG=1 keeps coming from a live event loop;
STOPPING=1 on SIGTERM. Secrets given as systemd credentials are read from
$CREDENTIALS_DIRECTORY.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from stratus_common import systemd
from tests.e2e.compute_node.e2e_support import ComputeProcess, Controller
from tests.support.cloud import Cloud
from tests.support.notify import NotifySocket
from tests.support.ports import free_port

START = 90  # seconds: generous, the machine is shared


def accepts(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def notify(tmp_path):
    sock = NotifySocket(tmp_path / "notify")
    yield sock
    sock.close()


def test_controller_is_ready_only_with_every_listener_up_and_feeds_the_watchdog(tmp_path, notify):
    metrics_port = free_port()
    controller = Controller(tmp_path / "ctl", f'[metrics]\nlisten = "127.0.0.1:{metrics_port}"\n')
    # The database URL, a secret in a real deployment, arrives as a systemd credential.
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    url = f"sqlite:///{controller.directory}/stratus.db"
    (credentials / "database-url").write_text(url + "\n")
    text = controller.config.read_text().replace(
        f'url = "{url}"', 'url = "credential:database-url"'
    )
    assert "credential:database-url" in text
    controller.config.write_text(text)
    env = {
        **os.environ,
        **notify.env,
        "CREDENTIALS_DIRECTORY": str(credentials),
        "WATCHDOG_USEC": "2000000",  # a ping at least every second
    }
    log = open(tmp_path / "controller.log", "wb")  # noqa: SIM115 - the child writes it
    proc = subprocess.Popen(
        [sys.executable, "-m", "controller.main", "--config", str(controller.config)],
        stdout=log,
        stderr=log,
        env=env,
    )
    try:
        notify.wait_for("READY=1", START, alive=lambda: proc.poll() is None)
        # At READY, nothing may still be starting: the public and node listeners and the
        # metrics endpoint accept connections at once.
        assert accepts(controller.public_port)
        assert accepts(controller.node_port)
        assert accepts(metrics_port)
        assert any(m.startswith("STATUS=serving") for m in "\n".join(notify.messages).split("\n"))
        pings = [m for m in notify.receive(3) if m == "WATCHDOG=1"]
        assert len(pings) >= 2, notify.messages
        # A stopped process (as a stuck loop would) sends no more pings: systemd would kill it.
        os.kill(proc.pid, signal.SIGSTOP)
        notify.receive(0.5)  # what was already in flight
        assert "WATCHDOG=1" not in notify.receive(2)
        os.kill(proc.pid, signal.SIGCONT)
        notify.wait_for("WATCHDOG=1", START)
        proc.terminate()
        notify.wait_for("STOPPING=1", START)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()


def test_node_is_ready_only_once_the_controller_welcomed_its_stream(tmp_path, notify):
    controller = Controller(tmp_path / "ctl").start()
    cloud = Cloud(controller.address)
    node = ComputeProcess(tmp_path / "node", "notify.node.test", controller, cloud)
    try:
        node.start(wait_connected=False, env={**notify.env, "WATCHDOG_USEC": "2000000"})
        notify.wait_for("READY=1", START, alive=node.running)
        assert "connected to the controller as node" in node.log_path.read_text()
        assert "WATCHDOG=1" in notify.receive(2)
        node.terminate()
        assert "STOPPING=1" in notify.messages + notify.receive(1)

        # Controller down: the agent starts and retries, but never says it is ready...
        controller.stop()
        notify.messages.clear()
        node.start(wait_connected=False, env=notify.env)
        node.wait_log(r"reconnecting in", START)
        assert "READY=1" not in notify.receive(3)
        # ...until the controller is back and welcomes it.
        controller.start()
        notify.wait_for("READY=1", START, alive=node.running)
        assert "connected to the controller as node" in node.log_path.read_text()
    finally:
        if node.running():
            node.terminate()
        cloud.close()
        controller.stop()


def test_a_missing_credential_stops_the_start_with_one_clear_line(tmp_path):
    controller = Controller(tmp_path / "ctl")
    text = controller.config.read_text()
    controller.config.write_text(
        text.replace('[database]\nurl = "', '[database]\nurl = "credential:nope" #"', 1)
    )
    done = subprocess.run(
        [sys.executable, "-m", "controller.main", "--config", str(controller.config)],
        env={**os.environ, "CREDENTIALS_DIRECTORY": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "[database] url: credential 'nope' is not in" in done.stderr


def test_the_watchdog_stops_while_the_event_loop_is_stuck(notify, monkeypatch):
    """The pings come from the loop itself: a blocking call on it (what a stuck controller
    does) stops them while the process's other threads run on, so systemd kills it."""
    monkeypatch.setenv("NOTIFY_SOCKET", str(notify.path))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        feeding = asyncio.run_coroutine_threadsafe(systemd.feed_watchdog(0.05), loop)
        notify.wait_for("WATCHDOG=1", START)
        loop.call_soon_threadsafe(time.sleep, 4)  # the loop blocked in a synchronous call
        notify.receive(1)  # pings sent before it blocked
        assert "WATCHDOG=1" not in notify.receive(2)
        notify.wait_for("WATCHDOG=1", START)  # unblocked: the pings resume
        feeding.cancel()
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_a_metrics_address_taken_stops_the_start_with_one_clear_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        controller = Controller(tmp_path / "ctl", f'[metrics]\nlisten = "127.0.0.1:{port}"\n')
        done = subprocess.run(
            [sys.executable, "-m", "controller.main", "--config", str(controller.config)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 1
    assert f"stratus-controller: [metrics] listen 127.0.0.1:{port}: " in done.stderr
    assert "Traceback" not in done.stderr


def test_notify_without_a_manager_does_nothing():
    assert systemd.notify("READY=1", env={}) is False
    assert systemd.watchdog_interval(env={"WATCHDOG_USEC": "0"}) is None
    assert systemd.watchdog_interval(env={"WATCHDOG_USEC": "4000000"}) == 2.0
    other = str(os.getpid() + 1)
    assert (
        systemd.watchdog_interval(env={"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": other}) is None
    )
