"""The node stream's network messages to the wiring's values and back."""

from compute_node import convert_network
from compute_node.network.model import (
    Direction,
    NetworkType,
    PortReport,
    PortStatus,
    StatusReport,
)
from stratus.node.v1 import node_service_pb2 as pb


def test_a_network_state_from_the_wire():
    msg = pb.NetworkState(
        revision=9,
        networks=[
            pb.NodeNetwork(
                network_id="n1",
                network_type=pb.NETWORK_TYPE_VXLAN,
                segmentation_id=77,
                mtu=1450,
                vxlan_peers=["192.0.2.2"],
                subnets=[
                    pb.NodeSubnet(
                        subnet_id="s1",
                        cidr="10.0.0.0/24",
                        ip_version=4,
                        gateway_ip="10.0.0.1",
                        enable_dhcp=True,
                        host_routes=[
                            pb.NodeHostRoute(destination="10.9.0.0/16", nexthop="10.0.0.9")
                        ],
                    )
                ],
                admin_state_up=True,
            ),
            pb.NodeNetwork(network_id="from-the-future", network_type=99),
        ],
        ports=[
            pb.NodePort(
                port_id="p1",
                network_id="n1",
                mac_address="fa:16:3e:00:00:01",
                fixed_ips=[pb.NodeFixedIp(subnet_id="s1", ip_address="10.0.0.5")],
                port_security_enabled=True,
                security_group_ids=["sg"],
                allowed_address_pairs=[pb.NodeAddressPair(ip_address="10.0.0.99")],
                mtu=1450,
                admin_state_up=True,
            )
        ],
        security_groups=[
            pb.NodeSecurityGroup(
                security_group_id="sg",
                member_ips=["10.0.0.5"],
                rules=[
                    pb.NodeSecurityRule(
                        rule_id="r1",
                        direction=pb.RULE_DIRECTION_INGRESS,
                        ip_version=4,
                        protocol="icmp",
                        port_range_min=-1,
                        port_range_max=-1,
                    ),
                    pb.NodeSecurityRule(rule_id="r-unknown"),
                ],
            )
        ],
    )
    state = convert_network.network_state(msg)
    assert state.revision == 9
    [network] = state.networks  # the unknown type is left out
    assert network.network_type is NetworkType.VXLAN and network.vxlan_peers == ("192.0.2.2",)
    assert network.subnets[0].host_routes[0].nexthop == "10.0.0.9"
    assert state.ports[0].allowed_address_pairs[0].ip_address == "10.0.0.99"
    [rule] = state.security_groups[0].rules
    assert rule.direction is Direction.INGRESS and rule.port_range_min == -1


def test_a_status_report_to_the_wire():
    report = StatusReport(
        4, (PortReport("p1", PortStatus.ACTIVE), PortReport("p2", PortStatus.ERROR, "why"))
    )
    msg = convert_network.port_status(report).port_status
    assert msg.revision == 4
    assert [(p.port_id, p.status, p.detail) for p in msg.ports] == [
        ("p1", pb.PORT_STATUS_ACTIVE, ""),
        ("p2", pb.PORT_STATUS_ERROR, "why"),
    ]


def test_the_spawns_ports_become_the_guests_nics_in_order():
    ports = [
        pb.NodePort(port_id="1f0c3a5e-1111-2222", mac_address="fa:16:3e:00:00:01", mtu=1450),
        pb.NodePort(port_id="22", mac_address="fa:16:3e:00:00:02"),
    ]
    nics = convert_network.nics(ports)
    assert [(n.tap, n.mtu) for n in nics] == [("tap1f0c3a5e-111", 1450), ("tap22", 0)]
