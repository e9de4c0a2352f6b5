"""Time from a security-group rule change to its effect on a node's packets.

Two hosts (network namespaces) joined by an underlay veth, a tenant VXLAN network, two
guests (namespaces on their taps) and `--ports` more ports on host b whose groups carry
`--rules` rules each (so the ruleset has a realistic size). Guest a sends a UDP datagram to
guest b every millisecond and records when each echo comes back; host b's wiring then
applies a NetworkState without the UDP rule, and later with it again. Printed per run:
the wiring pass (nft -f of both tables plus the layer-2 and DHCP checks), `nft -f` of the
same ruleset alone (the baseline), and when the traffic really stopped and came back,
measured from the start of the pass (the last echo before the gap / the first one after).

    python -m bench.network_rule_bench [--runs 5] [--ports 50] [--rules 20]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from compute_node.network.firewall import Ruleset
from compute_node.network.links import LinkSettings
from compute_node.network.model import (
    Direction,
    FixedIp,
    Network,
    NetworkState,
    NetworkType,
    Port,
    Rule,
    SecurityGroup,
    Subnet,
)
from compute_node.network.runner import Runner
from compute_node.network.wiring import NetworkWiring, WiringSettings
from tests.integration.node_network.hosts import Lab, sh

NET = Network(
    "net-bench-01",
    NetworkType.VXLAN,
    segmentation_id=4242,
    mtu=1450,
    subnets=(Subnet("sub-bench", "10.0.0.0/16", enable_dhcp=False),),
)
UDP = Rule("udp-9999", Direction.INGRESS, 4, "udp", 9999, 9999)
ECHO = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 9999))
while True:
    data, peer = s.recvfrom(64)
    s.sendto(data, peer)
"""
CLIENT = """
import json, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
end = time.monotonic() + float(sys.argv[1])
replies = []
while time.monotonic() < end:
    s.sendto(b"x", ("10.0.0.3", 9999))
    time.sleep(0.001)
    while True:
        try:
            s.recv(64)
        except BlockingIOError:
            break
        replies.append(time.monotonic())
print(json.dumps(replies))
"""


def port(index: int, mac: str, ip: str, group: str) -> Port:
    return Port(
        f"port-{index:04d}-bench",
        NET.network_id,
        mac,
        fixed_ips=(FixedIp("sub-bench", ip),),
        security_group_ids=(group,),
        mtu=1450,
    )


def states(ports: int, rules: int):
    a = port(1, "fa:16:3e:00:00:02", "10.0.0.2", "sg-a")
    b = port(2, "fa:16:3e:00:00:03", "10.0.0.3", "sg-b")
    filler = [
        port(
            10 + i,
            f"fa:16:3e:01:{(i >> 8) & 255:02x}:{i & 255:02x}",
            f"10.0.{1 + i // 250}.{2 + i % 250}",
            "sg-f",
        )
        for i in range(ports)
    ]
    extra = tuple(
        Rule(
            f"r{i}",
            Direction.INGRESS,
            4,
            "tcp",
            1000 + i,
            1000 + i,
            remote_ip_prefix=f"192.0.{i % 250}.0/24",
        )
        for i in range(rules)
    )
    egress = Rule("egress", Direction.EGRESS, 4)
    members = tuple(p.fixed_ips[0].ip_address for p in (a, b, *filler))

    def state(revision: int, with_udp: bool, peer: str, mine: list[Port]) -> NetworkState:
        groups = (
            SecurityGroup("sg-a", (egress,), members),
            SecurityGroup("sg-b", (egress, *extra, *((UDP,) if with_udp else ())), members),
            SecurityGroup("sg-f", (egress, *extra), members),
        )
        net = dataclasses.replace(NET, vxlan_peers=(peer,))
        return NetworkState(revision, (net,), tuple(mine), groups)

    return a, b, filler, state


def ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:.1f} ms (max {max(values) * 1000:.1f})"


def run(args) -> None:
    lab = Lab()
    try:
        host_a, host_b = lab.namespace("ha"), lab.namespace("hb")
        lab.link_hosts(host_a, host_b, "192.168.251.1", "192.168.251.2")
        a, b, filler, state = states(args.ports, args.rules)
        guest_a = lab.guest(host_a, a.port_id, a.mac_address, "a")
        guest_b = lab.guest(host_b, b.port_id, b.mac_address, "b")
        for ns, ip in ((guest_a, "10.0.0.2"), (guest_b, "10.0.0.3")):
            sh("ip", "link", "set", "eth0", "mtu", "1450", ns=ns)
            sh("ip", "address", "add", f"{ip}/16", "dev", "eth0", ns=ns)
        wiring_a = NetworkWiring(
            WiringSettings(LinkSettings(tunnel_ip="192.168.251.1"), tempfile.mkdtemp()),
            Runner(host_a),
        )
        wiring_b = NetworkWiring(
            WiringSettings(LinkSettings(tunnel_ip="192.168.251.2"), tempfile.mkdtemp()),
            Runner(host_b),
        )
        wiring_a.apply(state(1, True, "192.168.251.2", [a]))
        revision = 1
        wiring_b.apply(state(revision, True, "192.168.251.1", [b, *filler]))
        lab.background(guest_b, sys.executable, "-c", ECHO)
        time.sleep(0.5)
        results = []
        for _ in range(args.runs):
            client = subprocess.Popen(
                ["ip", "netns", "exec", guest_a, sys.executable, "-c", CLIENT, "5"],
                stdout=subprocess.PIPE,
                text=True,
            )
            time.sleep(1.0)
            revision += 1
            removed = time.monotonic()
            wiring_b.apply(state(revision, False, "192.168.251.1", [b, *filler]))
            removal_pass = time.monotonic() - removed
            time.sleep(0.8)
            revision += 1
            added = time.monotonic()
            wiring_b.apply(state(revision, True, "192.168.251.1", [b, *filler]))
            adding_pass = time.monotonic() - added
            replies = json.loads(client.communicate(timeout=30)[0])
            last_before = max(t for t in replies if t < added) - removed
            first_after = min(t for t in replies if t > added) - added
            results.append((removal_pass, adding_pass, last_before, first_after))
        text = Ruleset(state(revision, True, "", [b, *filler]), 1, ["vxlan-4242"]).text()
        nft = []
        for _ in range(args.runs):
            started = time.monotonic()
            Runner(host_b).run("nft", "-f", "-", stdin=text)
            nft.append(time.monotonic() - started)
        lines = len(text.splitlines())
        print(
            f"ruleset: {args.ports + 1} ports on host b, {args.rules} rules a group, {lines} lines"
        )
        print(f"wiring pass, rule removed: {ms([r[0] for r in results])}")
        print(f"wiring pass, rule added:   {ms([r[1] for r in results])}")
        print(f"baseline, nft -f of the same ruleset alone: {ms(nft)}")
        print(f"traffic stopped (last echo after the pass began): {ms([r[2] for r in results])}")
        print(f"traffic back (first echo after the pass began):   {ms([r[3] for r in results])}")
    finally:
        lab.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--ports", type=int, default=50)
    parser.add_argument("--rules", type=int, default=20)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("network namespaces need root")
    run(args)


if __name__ == "__main__":
    main()
