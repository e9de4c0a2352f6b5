"""Three hosts in network namespaces, installed as an operator would: a controller and two
compute nodes, each put in place by scripts/install-controller or scripts/install-compute
(into its own root directory, without systemd) and run as real processes on a switch of
their own (tests/support/netns.py). Each agent drives libvirt's test driver behind a private
libvirt daemon, so the test sees each host's domains as the hypervisor has them.

Servers boot on both nodes; one node's cable is pulled (`ip link set eth0 down` inside it):
that node is marked down, and nothing else changes; the cable goes back: the node reconnects,
reconciles, and every server is there exactly once, where it was.

A cut path ends the controller's end of the connection when its kernel gives up
retransmitting; the namespaces set net.ipv4.tcp_retries2 = 3 so that happens within seconds,
not the default 15 minutes. The node's end, whose packets find no route while its cable is
out, would live on (TCP does not count retransmissions that fail locally), and a short cut
leaves its stream up: heartbeats just resume. Its keepalive ends it instead, as in production,
on a time set short here (a ping every 5 s, 2 s to answer), and the test plugs the cable back
only once the node has seen its stream end, so that the node really reconnects.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import grpc
import libvirt
import pytest

from compute_node.drivers.libvirt.private_daemon import LibvirtDaemon, missing_tools
from stratus.compute.v1 import compute_service_pb2 as cpb
from tests.e2e.compute_node.e2e_support import enrollment_token
from tests.integration.compute_node.node_support import Servers, upload_image
from tests.support.cloud import Cloud
from tests.support.controller import ADMIN_PASSWORD
from tests.support.netns import Network
from tests.support.notify import NotifySocket

ROOT = Path(__file__).resolve().parents[3]
SERVICE_DOWN_TIME = 6
WAIT = 180  # seconds: a generous bound for anything to happen on a busy machine
ACTIVE = cpb.SERVER_STATUS_ACTIVE

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or bool(missing_tools()), reason="needs root, ip netns and libvirtd"
)


def env(**extra: str) -> dict[str, str]:
    """This checkout's code first, whatever pip installed."""
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep + path if path else ''}", **extra}


def wait_until(what: str, predicate, timeout: float = WAIT, every: float = 0.2, explain=None):
    """`explain()`, if given, says on failure what the parties were doing."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"not {what} within {timeout} s" + (f"\n{explain()}" if explain else "")
            )
        time.sleep(every)


class Deployment:
    def __init__(self, base: Path):
        self.base = base
        self.net = Network(["ctl", "n1", "n2"])
        self.ctl_ip = self.net.addresses["ctl"]
        self.daemons: dict[str, LibvirtDaemon] = {}
        self.logs: dict[str, Path] = {}
        self.processes: dict[str, subprocess.Popen] = {}  # by name, in start order

    def start_process(self, host: str, name: str, command: list[str], **extra) -> subprocess.Popen:
        log = self.base / f"{name}.log"
        self.logs[name] = log
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [*self.net.prefix(host), *command], stdout=out, stderr=out, env=env(**extra)
            )
        self.processes[name] = proc
        return proc

    def install_controller(self) -> Path:
        done = self.net.run(
            "ctl",
            [
                str(ROOT / "scripts/install-controller"),
                "--root", str(self.base / "ctl"), "--no-systemd",
                "--listen", f"{self.ctl_ip}:5000",
                "--node-listen", f"{self.ctl_ip}:5001",
                "--node-address", self.ctl_ip,
                "--public-url", f"grpc://{self.ctl_ip}:5000",
                "--admin-password", ADMIN_PASSWORD,
                "--set", f"compute.service_down_time={SERVICE_DOWN_TIME}",
                "--set", "conductor.report_interval=1",
                "--set", "conductor.sweep_interval=0.5",
                "--set", "conductor.outbox_poll_interval=0.5",
            ],
            env=env(),
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return self.base / "ctl/etc/stratus"

    def start_controller(self, etc: Path) -> Cloud:
        notify = NotifySocket(self.base / "ctl.notify")
        proc = self.start_process(
            "ctl",
            "controller",
            [sys.executable, "-m", "controller.main", "--config", str(etc / "controller.toml")],
            CREDENTIALS_DIRECTORY=str(etc / "credentials"),
            STRATUS_LOGGING_LEVEL="info",
            **notify.env,
        )
        notify.wait_for("READY=1", WAIT, alive=lambda: proc.poll() is None)
        notify.close()
        # The test reaches the API through a UNIX socket relayed inside the controller's host.
        api = self.base / "api.sock"
        self.start_process(
            "ctl",
            "relay",
            [sys.executable, "-m", "tests.support.unix_relay", str(api), f"{self.ctl_ip}:5000"],
        )
        wait_until("relay listening", api.exists)
        return Cloud(f"unix:{api}")

    def install_node(self, host: str, cloud: Cloud) -> None:
        daemon = self.daemons[host] = LibvirtDaemon(
            self.base / f"libvirt-{host}", private_network=True
        )
        daemon.start()
        token = enrollment_token(cloud, f"{host}.test")
        done = self.net.run(
            host,
            [
                str(ROOT / "scripts/install-compute"),
                "--root", str(self.base / host), "--no-systemd",
                "--host-name", f"{host}.test",
                "--controller", f"{self.ctl_ip}:5001",
                "--public-endpoint", f"{self.ctl_ip}:5000",
                "--ca-fingerprint", token.ca_fingerprint_sha256,
                "--libvirt-uri", self.uri(host),
                "--set", "libvirt.shutdown_timeout=2",
                "--set", "compute.keepalive_seconds=5",
                "--set", "compute.keepalive_timeout_seconds=2",
            ],
            env=env(STRATUS_ENROLL_TOKEN=token.token),
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr

    def start_node(self, host: str) -> None:
        notify = NotifySocket(self.base / f"{host}.notify")
        config = self.base / host / "etc/stratus/compute.toml"
        proc = self.start_process(
            host,
            host,
            [sys.executable, "-m", "compute_node.main", "--config", str(config)],
            **notify.env,
        )
        notify.wait_for("READY=1", WAIT, alive=lambda: proc.poll() is None)
        notify.close()

    def uri(self, host: str) -> str:
        return f"test+unix:///default?socket={self.daemons[host].socket}"

    def domains(self, host: str) -> dict[str, int]:
        conn = libvirt.open(self.uri(host))
        try:
            return {d.UUIDString(): d.state()[0] for d in conn.listAllDomains()}
        finally:
            conn.close()

    def sessions(self, host: str) -> int:
        return self.logs[host].read_text(errors="replace").count("connected to the controller as")

    def streams_ended(self, host: str) -> int:
        return self.logs[host].read_text(errors="replace").count("stream to the controller ended")

    def log_tails(self, *names: str, lines: int = 30) -> str:
        """The last lines each process wrote, and whether it still runs."""
        return "\n".join(
            f"--- {name} (exit status {self.processes[name].poll()}):\n"
            + "\n".join(self.logs[name].read_text(errors="replace").splitlines()[-lines:])
            for name in names
        )

    def close(self) -> None:
        for proc in reversed(self.processes.values()):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
        for daemon in self.daemons.values():
            daemon.stop(shutdown_timeout=0)
        self.net.close()


@pytest.fixture
def deployment(tmp_path):
    deployment = Deployment(tmp_path)
    deployment.net.create({"net.ipv4.tcp_retries2": "3"})
    try:
        yield deployment
    finally:
        deployment.close()


def states(stub, admin) -> dict[str, int]:
    services = stub.ListComputeServices(cpb.ListComputeServicesRequest(), metadata=admin).services
    return {s.host: s.state for s in services}


def test_a_node_cut_off_is_marked_down_alone_and_comes_back_whole(deployment):
    etc = deployment.install_controller()
    cloud = deployment.start_controller(etc)
    for host in ("n1", "n2"):
        deployment.install_node(host, cloud)
        deployment.start_node(host)
    servers = Servers(cloud)
    admin = cloud.admin
    up = {"n1.test": cpb.SERVICE_STATE_UP, "n2.test": cpb.SERVICE_STATE_UP}
    wait_until("both nodes up", lambda: states(servers.stub, admin) == up)

    flavor = servers.flavor(ram_mb=128)
    image = upload_image(cloud, b"\0" * (1 << 20), "raw")
    placed: dict[str, str] = {}  # server id -> host
    for _ in range(10):  # bounded: the scheduler spreads, so a few are enough for both hosts
        server_id = servers.create(flavor, image)
        placed[server_id] = servers.wait_status(server_id, ACTIVE, WAIT).host
        if len(set(placed.values())) == 2 and len(placed) >= 4:
            break
    assert set(placed.values()) == {"n1.test", "n2.test"}, placed
    before = {host: deployment.domains(host) for host in ("n1", "n2")}

    # Pull n2's cable.
    ended = deployment.streams_ended("n2")
    deployment.net.link("n2", up=False)
    cut = time.monotonic()
    wait_until(
        "n2 marked down",
        lambda: states(servers.stub, admin) == {**up, "n2.test": cpb.SERVICE_STATE_DOWN},
        every=0.5,
    )
    print(f"n2 marked down {time.monotonic() - cut:.1f} s after its link went down")
    # Nothing else changed: n1 is up, every server is where it was, as it was, and the
    # hypervisors hold what they held.
    for server_id, host in placed.items():
        server = servers.get(server_id)
        assert (server.status, server.host) == (ACTIVE, host)
    assert {host: deployment.domains(host) for host in ("n1", "n2")} == before
    # New servers go to the node that is up.
    during = servers.create(flavor, image)
    assert servers.wait_status(during, ACTIVE, WAIT).host == "n1.test"
    placed[during] = "n1.test"

    # Plug it back once n2 has seen its stream end (keepalive: 5 s + 2 s): n2 opens a new
    # stream, says hello with its inventory, is reconciled.
    wait_until(
        "n2's stream ended",
        lambda: deployment.streams_ended("n2") > ended,
        explain=lambda: deployment.log_tails("n2"),
    )
    sessions = deployment.sessions("n2")
    deployment.net.link("n2", up=True)
    wait_until(
        "n2 reconnected",
        lambda: deployment.sessions("n2") > sessions,
        explain=lambda: deployment.log_tails("n2", "controller"),
    )
    wait_until("n2 up again", lambda: states(servers.stub, admin) == up)

    # No server duplicated or lost, on the API's side and on the hypervisors'.
    for server_id, host in placed.items():
        server = servers.get(server_id)
        assert (server.status, server.host) == (ACTIVE, host)
    found = {host: deployment.domains(host) for host in ("n1", "n2")}
    for server_id, host in placed.items():
        holders = [h for h in ("n1", "n2") if server_id in found[h]]
        assert holders == [host.split(".")[0]], (server_id, holders)
        assert found[host.split(".")[0]][server_id] == libvirt.VIR_DOMAIN_RUNNING
    assert found["n2"] == before["n2"]
    # And the stream works: a delete on n2 reaches its hypervisor.
    on_n2 = next(s for s, h in placed.items() if h == "n2.test")
    servers.delete(on_n2)
    servers.wait_deleted(on_n2, WAIT)
    wait_until("the domain gone from n2", lambda: on_n2 not in deployment.domains("n2"))
    listed = servers.stub.ListServers(cpb.ListServersRequest(), metadata=servers.tenant.metadata)
    assert sorted(s.id for s in listed.servers) == sorted(set(placed) - {on_n2})
    with pytest.raises(grpc.RpcError) as gone:
        servers.get(on_n2)
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND
