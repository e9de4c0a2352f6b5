"""The node's wiring against real kernel objects: two hosts (namespaces) joined by an
underlay veth, guests (namespaces) on their taps, a tenant VXLAN network across the hosts,
another project's network with the same CIDR, nftables security groups and anti-spoofing
judged by real packets, and DHCP from each host's dnsmasq."""

from __future__ import annotations

import dataclasses
import os
import signal
import time

import pytest

from compute_node.network import names
from compute_node.network.links import LinkSettings
from compute_node.network.model import (
    Direction,
    FixedIp,
    Network,
    NetworkState,
    NetworkType,
    Port,
    PortStatus,
    Rule,
    SecurityGroup,
    Subnet,
)
from compute_node.network.runner import Runner
from compute_node.network.wiring import NetworkWiring, WiringSettings
from tests.integration.node_network.hosts import Lab, pings, sh, wait_until

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")

HOST_A, HOST_B = "192.168.250.1", "192.168.250.2"
SUBNET = Subnet("sub-red", "10.0.0.0/24", gateway_ip="10.0.0.1")
SUBNET6 = Subnet("sub-red6", "fd00::/64", ip_version=6, enable_dhcp=False)
RED = Network(
    "net-red-0001", NetworkType.VXLAN, segmentation_id=1001, mtu=1450, subnets=(SUBNET, SUBNET6)
)
# Another project's network, same CIDR (allowed, as in Neutron).
BLUE = Network(
    "net-blue-0002",
    NetworkType.VXLAN,
    segmentation_id=1002,
    mtu=1450,
    subnets=(dataclasses.replace(SUBNET, subnet_id="sub-blue"),),
)
ICMP_IN = Rule("icmp-in", Direction.INGRESS, 4, "icmp", -1, -1)
ICMP6_IN = Rule("icmp6-in", Direction.INGRESS, 6, "icmp", -1, -1)
EGRESS_ALL = Rule("egress", Direction.EGRESS, 4)
EGRESS6_ALL = Rule("egress6", Direction.EGRESS, 6)


def port(port_id: str, network: Network, mac: str, ip: str, groups=("sg-web",), ip6="") -> Port:
    v6 = (FixedIp(SUBNET6.subnet_id, ip6),) if ip6 else ()
    return Port(
        port_id=port_id,
        network_id=network.network_id,
        mac_address=mac,
        fixed_ips=(FixedIp(network.subnets[0].subnet_id, ip), *v6),
        security_group_ids=groups,
        mtu=network.mtu,
    )


A1 = port("port-a1-000000", RED, "fa:16:3e:00:0a:01", "10.0.0.11", ip6="fd00::11")
B1 = port("port-b1-000000", RED, "fa:16:3e:00:0b:01", "10.0.0.21", ip6="fd00::21")
A2 = port("port-a2-000000", BLUE, "fa:16:3e:00:0a:02", "10.0.0.21", groups=("sg-blue",))


def groups(*ingress: Rule) -> tuple[SecurityGroup, ...]:
    members = ("10.0.0.11", "10.0.0.21", "fd00::11", "fd00::21")
    return (
        SecurityGroup("sg-web", (EGRESS_ALL, EGRESS6_ALL, ICMP6_IN, *ingress), members),
        SecurityGroup("sg-blue", (EGRESS_ALL, ICMP_IN), ("10.0.0.21",)),
    )


def state_a(revision: int, *ingress: Rule) -> NetworkState:
    red = dataclasses.replace(RED, vxlan_peers=(HOST_B,))
    blue = dataclasses.replace(BLUE, vxlan_peers=(HOST_B,))
    return NetworkState(revision, (red, blue), (A1, A2), groups(*ingress))


def state_b(revision: int, *ingress: Rule) -> NetworkState:
    red = dataclasses.replace(RED, vxlan_peers=(HOST_A,))
    return NetworkState(revision, (red,), (B1,), groups(*ingress))


class RecordingRunner(Runner):
    def __init__(self, netns: str):
        super().__init__(netns)
        self.commands: list[tuple[str, ...]] = []

    def run(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        self.commands.append(args)
        return super().run(*args, stdin=stdin, check=check)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = Lab()
    try:
        lab.host_a = lab.namespace("ha")
        lab.host_b = lab.namespace("hb")
        lab.link_hosts(lab.host_a, lab.host_b, HOST_A, HOST_B)
        lab.guest_a1 = lab.guest(lab.host_a, A1.port_id, A1.mac_address, "a1")
        lab.guest_b1 = lab.guest(lab.host_b, B1.port_id, B1.mac_address, "b1")
        lab.guest_a2 = lab.guest(lab.host_a, A2.port_id, A2.mac_address, "a2")
        lab.wiring_a = NetworkWiring(
            WiringSettings(LinkSettings(tunnel_ip=HOST_A), str(tmp_path_factory.mktemp("a"))),
            RecordingRunner(lab.host_a),
        )
        lab.wiring_b = NetworkWiring(
            WiringSettings(LinkSettings(tunnel_ip=HOST_B), str(tmp_path_factory.mktemp("b"))),
            RecordingRunner(lab.host_b),
        )
        lab.report_a = lab.wiring_a.apply(state_a(1, ICMP_IN))
        lab.report_b = lab.wiring_b.apply(state_b(1, ICMP_IN))
        for ns, p in ((lab.guest_a1, A1), (lab.guest_b1, B1), (lab.guest_a2, A2)):
            sh("ip", "link", "set", "eth0", "mtu", str(p.mtu), ns=ns)
            sh("ip", "address", "add", f"{p.fixed_ips[0].ip_address}/24", "dev", "eth0", ns=ns)
            for fixed in p.fixed_ips[1:]:
                sh("ip", "address", "add", f"{fixed.ip_address}/64", "dev", "eth0", "nodad", ns=ns)
        yield lab
    finally:
        for wiring in ("wiring_a", "wiring_b"):
            if hasattr(lab, wiring):
                getattr(lab, wiring).close()
        lab.close()


def test_ports_are_reported_active_once_plugged(lab):
    assert {p.port_id: p.status for p in lab.report_a.ports} == {
        A1.port_id: PortStatus.ACTIVE,
        A2.port_id: PortStatus.ACTIVE,
    }
    links = sh("ip", "-d", "link", "show", names.tap(A1.port_id), ns=lab.host_a).stdout
    assert f"master {names.bridge(RED.network_id)}" in links
    fdb = sh("bridge", "fdb", "show", "dev", names.vxlan(1001), ns=lab.host_a).stdout
    assert f"00:00:00:00:00:00 dst {HOST_B}" in fdb


def test_guests_on_one_tenant_network_reach_each_other_across_vxlan(lab):
    assert wait_until(lambda: pings(lab.guest_a1, "10.0.0.21", count=1))
    assert pings(lab.guest_b1, "10.0.0.11")


def test_a_guest_of_another_projects_network_cannot_reach_them(lab):
    # Guest a2 has the same address as b1, on another network: its ping to a1 (which would
    # answer a member of its group) finds nobody, and a1 cannot reach it either.
    assert not pings(lab.guest_a2, "10.0.0.11")
    assert not pings(lab.guest_a1, "10.0.0.21", source=None) or pings(lab.guest_b1, "10.0.0.11")
    neighbours = sh("ip", "neigh", "show", "10.0.0.21", ns=lab.guest_a1).stdout
    assert A2.mac_address not in neighbours


def test_the_same_state_twice_changes_nothing(lab):
    runner = lab.wiring_a.runner
    runner.commands.clear()
    lab.wiring_a.apply(state_a(1, ICMP_IN))
    changes = [
        c for c in runner.commands if c[:2] == ("ip", "link") and c[2] in ("add", "set", "del")
    ]
    assert changes == []
    assert not [c for c in runner.commands if c[0] == "dnsmasq"]


def test_a_state_older_than_the_applied_one_is_ignored(lab):
    assert lab.wiring_b.apply(state_b(0)) is None
    assert pings(lab.guest_a1, "10.0.0.21")


def replies(process_output: list[str]) -> int:
    return sum(1 for line in process_output if "bytes from" in line)


def test_removing_the_icmp_rule_stops_a_running_ping_and_adding_it_back_restores_it(lab):
    ping = lab.background(lab.guest_a1, "busybox", "ping", "-i", "0.2", "10.0.0.21")
    lines: list[str] = []
    os.set_blocking(ping.stdout.fileno(), False)

    def read() -> int:
        while chunk := ping.stdout.readline():
            lines.append(chunk)
        return replies(lines)

    assert wait_until(lambda: read() >= 3)
    lab.wiring_b.apply(state_b(2))  # no ICMP rule on b1's group
    time.sleep(0.5)
    stopped_at = read()
    assert not wait_until(lambda: read() > stopped_at, deadline=3)
    lab.wiring_b.apply(state_b(3, ICMP_IN))
    assert wait_until(lambda: read() > stopped_at)
    ping.kill()


def test_a_rule_admits_only_its_protocol_and_port(lab):
    tcp_22 = Rule("ssh", Direction.INGRESS, 4, "tcp", 22, 22, remote_group_id="sg-web")
    lab.wiring_b.apply(state_b(4, tcp_22))
    server = lab.background(lab.guest_b1, "busybox", "nc", "-l", "-p", "22", "-e", "echo", "hello")
    other = lab.background(lab.guest_b1, "busybox", "nc", "-l", "-p", "23", "-e", "echo", "hello")
    try:

        def answer(tcp_port: int) -> str:
            done = sh(
                "busybox", "nc", "-w", "2", "10.0.0.21", str(tcp_port), ns=lab.guest_a1, check=False
            )
            return done.stdout

        assert wait_until(lambda: "hello" in answer(22), deadline=20)
        assert "hello" not in answer(23)
        assert not pings(lab.guest_a1, "10.0.0.21", count=1)
    finally:
        server.kill()
        other.kill()
        lab.wiring_b.apply(state_b(5, ICMP_IN))


def test_a_spoofed_source_address_is_dropped(lab):
    assert pings(lab.guest_a1, "10.0.0.21")
    sh("ip", "address", "add", "10.0.0.99/24", "dev", "eth0", ns=lab.guest_a1)
    try:
        assert not pings(lab.guest_a1, "10.0.0.21", source="10.0.0.99")
    finally:
        sh("ip", "address", "del", "10.0.0.99/24", "dev", "eth0", ns=lab.guest_a1)
    counters = sh("nft", "list", "chain", "bridge", "stratus", "from_1", ns=lab.host_a).stdout
    assert "ip saddr != @v4_1" in counters


def test_ipv6_passes_its_rules_and_a_spoofed_ipv6_source_is_dropped(lab):
    ping6 = ("busybox", "ping", "-6", "-c", "1", "-W", "2")
    assert wait_until(lambda: sh(*ping6, "fd00::21", ns=lab.guest_a1, check=False).returncode == 0)
    sh("ip", "address", "add", "fd00::99/64", "dev", "eth0", "nodad", ns=lab.guest_a1)
    try:
        spoofed = sh(*ping6, "-I", "fd00::99", "fd00::21", ns=lab.guest_a1, check=False)
        assert spoofed.returncode != 0
    finally:
        sh("ip", "address", "del", "fd00::99/64", "dev", "eth0", ns=lab.guest_a1)
    # Without an ICMPv6 rule in b1's groups, only neighbour discovery reaches it.
    lab.wiring_b.apply(
        dataclasses.replace(
            state_b(30, ICMP_IN),
            security_groups=(
                SecurityGroup(
                    "sg-web", (EGRESS_ALL, EGRESS6_ALL, ICMP_IN), ("10.0.0.11", "10.0.0.21")
                ),
            ),
        )
    )
    try:
        assert sh(*ping6, "fd00::21", ns=lab.guest_a1, check=False).returncode != 0
        assert pings(lab.guest_a1, "10.0.0.21")
    finally:
        lab.wiring_b.apply(state_b(31, ICMP_IN))


def test_a_spoofed_mac_is_dropped(lab):
    sh("ip", "link", "set", "eth0", "address", "fa:16:3e:00:0a:99", ns=lab.guest_a1)
    try:
        sh("ip", "neigh", "flush", "all", ns=lab.guest_a1)
        assert not pings(lab.guest_a1, "10.0.0.21")
    finally:
        sh("ip", "link", "set", "eth0", "address", A1.mac_address, ns=lab.guest_a1)
    assert wait_until(lambda: pings(lab.guest_a1, "10.0.0.21", count=1))


def test_dhcp_answers_each_port_with_its_own_address_from_its_own_node(lab, tmp_path):
    script = tmp_path / "lease.sh"
    script.write_text('#!/bin/sh\n[ "$1" = bound ] && echo "$ip $router $mtu" > "$0.out"\nexit 0\n')
    script.chmod(0o755)
    for guest, expected in ((lab.guest_b1, "10.0.0.21 10.0.0.1 1450"), (lab.guest_a2, "10.0.0.21")):
        out = tmp_path / "lease.sh.out"
        out.unlink(missing_ok=True)
        sh(
            "busybox",
            "udhcpc",
            "-i",
            "eth0",
            "-n",
            "-q",
            "-f",
            "-t",
            "5",
            "-T",
            "2",
            "-O",
            "mtu",
            "-s",
            str(script),
            ns=guest,
            timeout=60,
        )
        assert out.read_text().startswith(expected)


def test_a_restarted_agent_plugs_again_a_tap_found_off_its_bridge(lab):
    tap = names.tap(B1.port_id)
    sh("ip", "link", "set", "dev", tap, "nomaster", ns=lab.host_b)  # as a re-created tap is
    assert not pings(lab.guest_a1, "10.0.0.21", count=1)
    restarted = NetworkWiring(
        WiringSettings(LinkSettings(tunnel_ip=HOST_B), lab.wiring_b.settings.state_dir),
        Runner(lab.host_b),
    )
    report = restarted.apply(state_b(50, ICMP_IN))
    assert [(p.port_id, p.status) for p in report.ports] == [(B1.port_id, PortStatus.ACTIVE)]
    assert wait_until(lambda: pings(lab.guest_a1, "10.0.0.21", count=1))
    lab.wiring_b = restarted  # it found the DHCP server running and keeps it


def test_a_lease_is_renewed_by_unicast_to_the_nodes_server_address(lab, tmp_path):
    events = tmp_path / "events"
    script = tmp_path / "hook.sh"
    script.write_text(
        f'#!/bin/sh\ncase "$1" in bound|renew)\n  ip address replace "$ip/24" dev "$interface"\n'
        f'  echo "$1 $ip $serverid" >> {events};;\nesac\nexit 0\n'
    )
    script.chmod(0o755)
    client = lab.background(
        lab.guest_b1,
        "busybox",
        "udhcpc",
        "-i",
        "eth0",
        "-f",
        "-t",
        "5",
        "-T",
        "2",
        "-s",
        str(script),
    )
    assert wait_until(lambda: events.exists() and "bound" in events.read_text())
    client.send_signal(signal.SIGUSR1)  # renew now: a unicast request to the server id
    assert wait_until(lambda: "renew" in events.read_text())
    assert events.read_text().splitlines() == [
        "bound 10.0.0.21 10.0.0.0",
        "renew 10.0.0.21 10.0.0.0",
    ]
    client.kill()


def test_an_empty_state_removes_what_the_wiring_made(lab):
    lab.wiring_a.apply(NetworkState(100))
    links = sh("ip", "-o", "link", "show", ns=lab.host_a).stdout
    assert names.bridge(RED.network_id) not in links
    assert names.vxlan(1001) not in links
    assert not list((lab.wiring_a.dhcp.directory).iterdir())
    lab.wiring_a.apply(state_a(101, ICMP_IN))
    assert wait_until(lambda: pings(lab.guest_a1, "10.0.0.21", count=1))
