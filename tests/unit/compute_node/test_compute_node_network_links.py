"""The layer-2 pass against a recorded host (for what this machine's kernel cannot make,
such as VLAN sub-interfaces; bridges and VXLAN are tested for real in
tests/integration/node_network)."""

import json

from compute_node.network import names
from compute_node.network.links import Links, LinkSettings
from compute_node.network.model import Network, NetworkState, NetworkType, Port, PortStatus
from compute_node.network.runner import Runner


class FakeHost(Runner):
    """Answers `ip -j -d link show` from its devices; records every other command."""

    def __init__(self, devices):
        super().__init__()
        self.devices = devices
        self.commands = []

    def run(self, *args, stdin=None, check=True):
        if args[:4] == ("ip", "-j", "-d", "link"):
            return json.dumps(self.devices)
        if args[:3] == ("bridge", "-j", "fdb"):
            return "[]"
        self.commands.append(" ".join(args))
        return ""


def device(name, kind="", **extra):
    return {"ifname": name, "mtu": 1500, "flags": ["UP"], "linkinfo": {"info_kind": kind}, **extra}


def port(network_id, port_id="port-1"):
    return Port(port_id, network_id, "fa:16:3e:00:00:01", mtu=1500)


def test_a_provider_vlan_gets_a_sub_interface_on_its_bridge():
    host = FakeHost([device("eth1"), device(names.tap("port-1"))])
    links = Links(host, LinkSettings(physical_network_mappings=(("physnet1", "eth1"),)))
    net = Network("net-vlan", NetworkType.VLAN, "physnet1", segmentation_id=100)
    plugged = links.apply(NetworkState(1, (net,), (port("net-vlan"),)))
    assert "ip link add eth1.100 link eth1 type vlan id 100" in host.commands
    assert "ip link set dev eth1.100 alias stratus-net:net-vlan" in host.commands
    assert "ip link set dev eth1.100 master brqnet-vlan mtu 1500 up" in host.commands
    assert plugged.ports["port-1"] == (PortStatus.ACTIVE, "")
    assert plugged.uplinks["net-vlan"] == "eth1.100"


def test_a_flat_network_on_a_mapped_host_bridge_uses_it_as_it_is():
    host = FakeHost([device("stratusbr5000", "bridge"), device(names.tap("port-1"))])
    links = Links(host, LinkSettings(physical_network_mappings=(("provider", "stratusbr5000"),)))
    net = Network("net-prov", NetworkType.FLAT, "provider")
    links.apply(NetworkState(1, (net,), (port("net-prov"),)))
    assert host.commands == [f"ip link set dev {names.tap('port-1')} master stratusbr5000"]


def test_a_flat_network_on_an_interface_gets_a_bridge_with_it():
    host = FakeHost([device("eth2")])
    links = Links(host, LinkSettings(physical_network_mappings=(("ext", "eth2"),)))
    net = Network("net-flat", NetworkType.FLAT, "ext")
    plugged = links.apply(NetworkState(1, (net,), (port("net-flat"),)))
    assert "ip link set dev eth2 master brqnet-flat" in host.commands
    assert plugged.ports["port-1"] == (PortStatus.DOWN, "")  # no guest interface yet


def test_a_network_this_node_cannot_carry_puts_its_ports_in_error():
    host = FakeHost([])
    links = Links(host, LinkSettings())
    state = NetworkState(
        1,
        (
            Network("n-vx", NetworkType.VXLAN, segmentation_id=5),
            Network("n-flat", NetworkType.FLAT, "nowhere"),
        ),
        (port("n-vx", "p-vx"), port("n-flat", "p-flat"), port("n-gone", "p-gone")),
    )
    plugged = links.apply(state)
    assert plugged.ports["p-vx"] == (
        PortStatus.ERROR,
        "this node has no [network] tunnel_ip for VXLAN",
    )
    assert "'nowhere' is not mapped" in plugged.ports["p-flat"][1]
    assert plugged.ports["p-gone"][0] is PortStatus.ERROR
    assert host.commands == []


def test_a_foreign_device_with_the_wirings_name_is_never_taken_over():
    host = FakeHost([device("vxlan-5", "vxlan")])
    links = Links(host, LinkSettings(tunnel_ip="192.0.2.1"))
    net = Network("n-vx", NetworkType.VXLAN, segmentation_id=5)
    plugged = links.apply(NetworkState(1, (net,), (port("n-vx"),)))
    assert plugged.ports["port-1"][0] is PortStatus.ERROR
    assert not [c for c in host.commands if "vxlan-5" in c]


def test_only_the_wirings_own_devices_are_removed():
    host = FakeHost(
        [
            device("brqold", "bridge", ifalias="stratus-net:old"),
            device("vxlan-9", "vxlan", ifalias="stratus-net:old"),
            device("brqsomeone", "bridge"),
        ]
    )
    Links(host, LinkSettings()).apply(NetworkState(2))
    assert host.commands == ["ip link del vxlan-9", "ip link del brqold"]


def test_device_names_fit_the_kernels_limit():
    assert names.tap("1f0c3a5e-1111-2222-3333-444444444444") == "tap1f0c3a5e-111"
    assert names.bridge("1f0c3a5e-1111-2222") == "brq1f0c3a5e-111"
    assert names.vlan("enp0s31f6-long", 4094) != "enp0s31f6-long.4094"
    assert len(names.vlan("enp0s31f6-long", 4094)) == 15
