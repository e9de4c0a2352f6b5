"""The node's wiring as stratus-compute.service runs it: not as root, but as an unprivileged
user holding only the unit's ambient capabilities (CAP_NET_ADMIN, CAP_NET_BIND_SERVICE), in a
network namespace standing for the host, whose kernel settings are those
scripts/install-compute makes. The bridge, the VXLAN device, both nft tables and dnsmasq come
up, and a guest gets its address by DHCP; without the capabilities every port is ERROR."""

from __future__ import annotations

import dataclasses
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from compute_node.network import names
from compute_node.network.links import LinkSettings
from compute_node.network.model import NetworkState, PortStatus, SecurityGroup, StatusReport
from tests.integration.node_network.hosts import Lab, sh
from tests.integration.node_network.test_wiring_netns import A1, EGRESS_ALL, ICMP_IN, RED

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")

REPO = Path(__file__).resolve().parents[3]
NOBODY = 65534
UNIT_CAPABILITIES = ("CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE")
TUNNEL_IP = "192.168.251.1"
NETWORK = dataclasses.replace(RED, subnets=RED.subnets[:1])
PORT = dataclasses.replace(A1, fixed_ips=A1.fixed_ips[:1])
STATE = NetworkState(
    1, (NETWORK,), (PORT,), (SecurityGroup("sg-web", (EGRESS_ALL, ICMP_IN), ("10.0.0.11",)),)
)


def unit_capabilities() -> tuple[str, ...]:
    unit = (REPO / "scripts/systemd/stratus-compute.service").read_text()
    (line,) = (x for x in unit.splitlines() if x.startswith("AmbientCapabilities="))
    return tuple(line.partition("=")[2].split())


def apply_as_service_user(host: str, state_dir: str, capabilities: tuple[str, ...]) -> StatusReport:
    request = pickle.dumps((state_dir, LinkSettings(tunnel_ip=TUNNEL_IP), STATE))
    done = subprocess.run(
        [
            "ip", "netns", "exec", host, sys.executable, "-m",
            "tests.integration.node_network.as_service_user",
            str(NOBODY), str(NOBODY), *capabilities,
        ],
        input=request, capture_output=True, cwd=REPO, timeout=120, check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    return pickle.loads(done.stdout)


def dnsmasq_status(host: str) -> dict[str, str]:
    for pid in sh("ip", "netns", "pids", host).stdout.split():
        try:
            if b"dnsmasq" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        except FileNotFoundError:
            continue
        return dict(line.split(":\t", 1) for line in lines if ":\t" in line)
    return {}


def lease(guest: str, directory: Path) -> str:
    script = directory / "lease.sh"
    script.write_text('#!/bin/sh\n[ "$1" = bound ] && echo "$ip $router" > "$0.out"\nexit 0\n')
    script.chmod(0o755)
    sh(
        "busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "5", "-T", "2",
        "-s", str(script), ns=guest, timeout=60,
    )  # fmt: skip
    return (directory / "lease.sh.out").read_text().strip()


@pytest.fixture
def host():
    lab = Lab()
    state_dir = tempfile.mkdtemp(prefix=f"stratus-wiring-{os.getpid()}-")
    try:
        lab.host = lab.namespace("hu")
        # What the host's configuration and scripts/install-compute give the agent.
        sh("ip", "address", "add", f"{TUNNEL_IP}/32", "dev", "lo", ns=lab.host)
        for key in ("bridge-nf-call-iptables", "bridge-nf-call-ip6tables"):
            sh("sysctl", "-qw", f"net.bridge.{key}=1", ns=lab.host)
        lab.guest_ns = lab.guest(lab.host, PORT.port_id, PORT.mac_address, "gu")
        os.chown(state_dir, NOBODY, NOBODY)
        lab.state_dir = state_dir
        yield lab
    finally:
        lab.close()
        shutil.rmtree(state_dir, ignore_errors=True)


def test_the_unit_grants_exactly_what_the_wiring_needs():
    assert unit_capabilities() == UNIT_CAPABILITIES


def test_the_wiring_runs_unprivileged_with_only_the_units_capabilities(host, tmp_path):
    report = apply_as_service_user(host.host, host.state_dir, UNIT_CAPABILITIES)

    assert [(p.port_id, p.status) for p in report.ports] == [(PORT.port_id, PortStatus.ACTIVE)]
    bridge = names.bridge(NETWORK.network_id)
    links = sh("ip", "-j", "link", "show", ns=host.host).stdout
    assert bridge in links and names.vxlan(NETWORK.segmentation_id) in links
    tap = sh("ip", "-j", "link", "show", "dev", names.tap(PORT.port_id), ns=host.host).stdout
    assert f'"master":"{bridge}"' in tap
    tables = sh("nft", "list", "tables", ns=host.host).stdout
    assert "table bridge stratus" in tables and "table inet stratus" in tables
    # dnsmasq inherited the user and the ambient capabilities, and nothing more.
    dnsmasq = dnsmasq_status(host.host)
    assert dnsmasq["Uid"].split()[0] == str(NOBODY)
    assert int(dnsmasq["CapEff"], 16) == (1 << 12) | (1 << 10)
    assert int(dnsmasq["NoNewPrivs"]) == 1
    # It bound DHCP's port and answers the guest with its port's address.
    assert lease(host.guest_ns, tmp_path) == "10.0.0.11 10.0.0.1"


def test_without_the_capabilities_every_port_is_in_error(host):
    report = apply_as_service_user(host.host, host.state_dir, ())

    assert [p.status for p in report.ports] == [PortStatus.ERROR]
    assert "Operation not permitted" in report.ports[0].detail
    assert names.bridge(NETWORK.network_id) not in sh("ip", "link", "show", ns=host.host).stdout
