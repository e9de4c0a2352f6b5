"""gRPC keepalive on the node stream, both ends: a path that goes silent without a packet to
say so (a TCP proxy that keeps every connection open but forwards nothing) is declared dead
by the node and by the controller, each by its own keepalive, and the node connects again
once the path is healed. Real processes: `stratus-controller` and `stratus-compute`."""

import re
import time

import pytest

from tests.e2e.compute_node.e2e_support import ComputeProcess, Controller
from tests.support.cloud import Cloud
from tests.support.tcp_proxy import TcpProxy

# Small on purpose: dead within time + timeout (2 s) on each side. Waits are generous (the
# machine is shared); without keepalive neither end would notice at all.
KEEPALIVE = (
    "[node_keepalive]\ntime_seconds = 1\ntimeout_seconds = 1\nmin_client_interval_seconds = 0.5\n"
)
NODE_KEEPALIVE = "keepalive_seconds = 1\nkeepalive_timeout_seconds = 1\n"
DEADLINE = 60.0


def _wait_count(path, pattern: str, count: int) -> float:
    """Waits until `pattern` is in the log `count` times; returns when (monotonic)."""
    deadline = time.monotonic() + DEADLINE
    while len(re.findall(pattern, path.read_text(errors="replace"))) < count:
        assert time.monotonic() < deadline, f"{pattern!r} x{count} not in {path}"
        time.sleep(0.05)
    return time.monotonic()


@pytest.fixture
def proxied(tmp_path):
    controller = Controller(tmp_path / "controller", extra=KEEPALIVE).start()
    cloud = Cloud(controller.address)
    proxy = TcpProxy(("127.0.0.1", controller.node_port))
    node = ComputeProcess(
        tmp_path / "node",
        "keepalive.node.test",
        controller,
        cloud,
        compute_extra=NODE_KEEPALIVE,
        controllers=[proxy.address],
    )
    try:
        yield controller, proxy, node.start()
    finally:
        if node.running():
            node.terminate()
        proxy.close()
        cloud.close()
        controller.stop()


def test_a_silent_path_is_declared_dead_by_both_ends(proxied, capsys):
    controller, proxy, node = proxied
    controller_log = controller.process.log_path
    _wait_count(controller_log, r"node connected", 1)

    proxy.blackhole()
    cut = time.monotonic()
    node_saw = _wait_count(node.log_path, r"stream to the controller ended", 1)
    controller_saw = _wait_count(controller_log, r"node disconnected", 1)
    with capsys.disabled():
        print(
            f"\nkeepalive 1 s + 1 s: the node gave up after {node_saw - cut:.1f} s, "
            f"the controller after {controller_saw - cut:.1f} s"
        )

    proxy.heal()
    _wait_count(node.log_path, r"connected to the controller as node", 2)
    _wait_count(controller_log, r"node connected", 2)
