"""Real guests on real networks, through the API, across namespaces as hosts
(hosts_cluster.py): two demo-image guests of one project on one tenant (VXLAN) network, on
different nodes, ping each other; a guest on another project's network with the same CIDR
reaches neither; removing the ICMP rule stops the ping and adding it back restores it; a
source address the port does not own never gets an answer.

The guests prove it themselves: their user data probes in a loop and prints each result on
the serial console, which the test reads through the compute API."""

from __future__ import annotations

import os
import re
import shutil
import time

import pytest

from stratus.compute.v1 import compute_service_pb2 as cpb
from stratus.network.v1 import network_service_pb2 as npb
from stratus.network.v1 import network_service_pb2_grpc as npb_grpc
from tests.e2e.network.hosts_cluster import HostsCluster
from tests.integration.compute_node.node_support import Servers, upload_image
from tests.integration.node_network.hosts import sh
from tests.support import demo_guest

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="no QEMU"),
    pytest.mark.skipif(os.geteuid() != 0, reason="namespaces and libvirtd need root"),
]
BOOT_TIMEOUT = 300
SPOOFED = "10.0.0.123"

PROBE_PEER = """#!/bin/sh
i=0
while [ $i -lt 20000 ]; do
  i=$((i + 1))
  ip address add {spoofed}/32 dev eth0 2>/dev/null
  have=no; peer=no; spoof=no
  ip -o address show dev eth0 | grep -q ' {spoofed}/' && have=yes
  ping -c 1 -W 1 {peer} >/dev/null 2>&1 && peer=ok
  ping -c 1 -W 1 -I {spoofed} {peer} >/dev/null 2>&1 && spoof=ok
  echo "probe $i peer=$peer spoofaddr=$have spoof=$spoof"
  sleep 0.2
done
"""
PROBE_OTHERS = """#!/bin/sh
i=0
while [ $i -lt 20000 ]; do
  i=$((i + 1))
  a=no; b=no
  ping -c 1 -W 1 {a} >/dev/null 2>&1 && a=ok
  ping -c 1 -W 1 {b} >/dev/null 2>&1 && b=ok
  echo "reach $i a=$a b=$b"
  sleep 0.2
done
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    hosts = HostsCluster(tmp_path_factory.mktemp("net-e2e"))
    try:
        yield hosts.start()
    finally:
        hosts.close()


def console(servers: Servers, server_id: str) -> str:
    return servers.stub.GetConsoleOutput(
        cpb.GetConsoleOutputRequest(server_id=server_id), metadata=servers.cloud.admin
    ).output.replace("\r", "")


def probes(servers: Servers, server_id: str, kind: str) -> list[tuple[int, dict[str, str]]]:
    found = []
    for match in re.finditer(rf"^{kind} (\d+) (.*)$", console(servers, server_id), re.M):
        fields = dict(item.split("=", 1) for item in match.group(2).split())
        found.append((int(match.group(1)), fields))
    return found


def wait_probe(servers, server_id, kind, predicate, after: int = 0, timeout=BOOT_TIMEOUT):
    """The number of the first probe after `after` for which `predicate(fields)` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for number, fields in probes(servers, server_id, kind):
            if number > after and predicate(fields):
                return number
        time.sleep(0.5)
    raise AssertionError(f"no such {kind} line: {console(servers, server_id)[-3000:]}")


class Project:
    def __init__(self, cloud, cidr="10.0.0.0/24", **subnet):
        self.servers = Servers(cloud)
        self.net = npb_grpc.NetworkServiceStub(cloud.channel)
        self.md = self.servers.tenant.metadata
        self.network = self.net.CreateNetwork(
            npb.CreateNetworkRequest(network=npb.Network(name="net")), metadata=self.md
        )
        self.net.CreateSubnet(
            npb.CreateSubnetRequest(
                subnet=npb.Subnet(network_id=self.network.id, cidr=cidr, name="sub", **subnet)
            ),
            metadata=self.md,
        )

    def group(self, name: str) -> npb.SecurityGroup:
        return self.net.CreateSecurityGroup(
            npb.CreateSecurityGroupRequest(security_group=npb.SecurityGroup(name=name)),
            metadata=self.md,
        )

    def rule(self, group_id: str, direction, protocol: str = "") -> npb.SecurityGroupRule:
        return self.net.CreateSecurityGroupRule(
            npb.CreateSecurityGroupRuleRequest(
                security_group_rule=npb.SecurityGroupRule(
                    security_group_id=group_id,
                    direction=direction,
                    ethertype="IPv4",
                    protocol=protocol,
                )
            ),
            metadata=self.md,
        )

    def port(self, groups=()) -> npb.Port:
        return self.net.CreatePort(
            npb.CreatePortRequest(
                port=npb.Port(network_id=self.network.id, security_group_ids=list(groups))
            ),
            metadata=self.md,
        )

    def boot(self, image, flavor, zone, port=None, user_data=b"") -> str:
        nic = (
            cpb.ServerNetwork(port_id=port.id)
            if port
            else cpb.ServerNetwork(network_id=self.network.id)
        )
        return self.servers.create(flavor, image, zone, networks=[nic], user_data=user_data)


def test_guests_on_a_tenant_network_across_nodes(cluster):
    image = upload_image(cluster.cloud, demo_guest.demo_image().read_bytes(), "qcow2")
    red = Project(cluster.cloud)
    flavor = red.servers.flavor(vcpus=1, ram_mb=256, disk_gb=1)
    probe = red.group("probe")  # as in Neutron, a new group may send anything
    icmp = red.rule(probe.id, npb.RULE_DIRECTION_INGRESS, "icmp")
    port_a, port_b = red.port([probe.id]), red.port([probe.id])
    ip_a, ip_b = port_a.fixed_ips[0].ip_address, port_b.fixed_ips[0].ip_address

    server_b = red.boot(image, flavor, "az2", port_b)
    server_a = red.boot(
        image,
        flavor,
        "az1",
        port_a,
        PROBE_PEER.format(peer=ip_b, spoofed=SPOOFED).encode(),
    )
    # Another project, the same CIDR, its addresses from another part of it.
    blue = Project(
        cluster.cloud,
        allocation_pools=[npb.AllocationPool(start="10.0.0.200", end="10.0.0.250")],
    )
    server_c = blue.boot(
        image, flavor, "az1", user_data=PROBE_OTHERS.format(a=ip_a, b=ip_b).encode()
    )
    for project, server in ((red, server_b), (red, server_a), (blue, server_c)):
        project.servers.wait_status(server, cpb.SERVER_STATUS_ACTIVE, timeout=BOOT_TIMEOUT)
    assert red.servers.get(server_a).host != red.servers.get(server_b).host

    # a pings b across the VXLAN between the two nodes.
    first = wait_probe(red.servers, server_a, "probe", lambda f: f["peer"] == "ok")
    print(f"\nguest a reached guest b at probe {first}")
    for port in (port_a, port_b):
        status = red.net.GetPort(npb.GetPortRequest(id=port.id), metadata=red.md).status
        assert status == npb.PORT_STATUS_ACTIVE

    # The other project's guest, on node 1 beside a, reaches neither.
    reached = wait_probe(blue.servers, server_c, "reach", lambda f: True, after=5)
    assert [f for _, f in probes(blue.servers, server_c, "reach") if "ok" in f.values()] == []
    print(f"guest c: {reached} probes, none answered")

    # No ICMP rule: the running ping stops; the rule again: it comes back.
    red.net.DeleteSecurityGroupRule(npb.DeleteSecurityGroupRuleRequest(id=icmp.id), metadata=red.md)
    removed = time.monotonic()
    seen = max(n for n, _ in probes(red.servers, server_a, "probe"))
    stopped = wait_probe(red.servers, server_a, "probe", lambda f: f["peer"] == "no", seen)
    print(f"rule removed: the ping failed {time.monotonic() - removed:.1f} s later (console)")
    later = wait_probe(red.servers, server_a, "probe", lambda f: True, stopped + 3, timeout=120)
    assert all(
        f["peer"] == "no" for n, f in probes(red.servers, server_a, "probe") if stopped < n <= later
    )
    red.rule(probe.id, npb.RULE_DIRECTION_INGRESS, "icmp")
    wait_probe(red.servers, server_a, "probe", lambda f: f["peer"] == "ok", later)

    # The spoofed source was on the guest's interface and never answered.
    lines = [f for _, f in probes(red.servers, server_a, "probe")]
    assert any(f["spoofaddr"] == "yes" for f in lines)
    assert [f for f in lines if f["spoof"] == "ok"] == []

    # Deleted: the taps go with the guests, the bridges with the last port.
    for project, server in ((red, server_a), (red, server_b), (blue, server_c)):
        project.servers.delete(server)
    for project, server in ((red, server_a), (red, server_b), (blue, server_c)):
        project.servers.wait_deleted(server, timeout=120)
    node_ns = cluster.node_namespaces[0]
    deadline = time.monotonic() + 60
    while "brq" in sh("ip", "-o", "link", "show", ns=node_ns).stdout:
        assert time.monotonic() < deadline, sh("ip", "-o", "link", "show", ns=node_ns).stdout
        time.sleep(0.5)
    assert "tap" not in sh("ip", "-o", "link", "show", ns=node_ns).stdout
