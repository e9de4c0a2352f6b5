"""The network area's values as the node protocol carries them (stratus.node.v1): a node's
NetworkState and the ports of a spawn. The only module of the area that builds node
messages."""

from __future__ import annotations

from controller.network import security_groups
from controller.network.node_state import NodeState, PortWiring
from stratus.node.v1 import node_service_pb2 as pb

NETWORK_TYPES = {
    "flat": pb.NETWORK_TYPE_FLAT,
    "vlan": pb.NETWORK_TYPE_VLAN,
    "vxlan": pb.NETWORK_TYPE_VXLAN,
}
DIRECTIONS = {"ingress": pb.RULE_DIRECTION_INGRESS, "egress": pb.RULE_DIRECTION_EGRESS}
PORT_STATUSES = {
    pb.PORT_STATUS_DOWN: "DOWN",
    pb.PORT_STATUS_BUILD: "BUILD",
    pb.PORT_STATUS_ACTIVE: "ACTIVE",
    pb.PORT_STATUS_ERROR: "ERROR",
}


def node_port(wiring: PortWiring) -> pb.NodePort:
    port = wiring.port
    message = pb.NodePort(
        port_id=port.id,
        network_id=port.network_id,
        instance_id=port.device_id if port.device_owner.startswith("compute:") else "",
        mac_address=port.mac_address,
        port_security_enabled=port.port_security_enabled,
        security_group_ids=wiring.security_group_ids if port.port_security_enabled else [],
        mtu=wiring.mtu,
        admin_state_up=port.admin_state_up,
    )
    for subnet_id, ip in wiring.fixed_ips:
        message.fixed_ips.add(subnet_id=subnet_id, ip_address=ip)
    for ip, mac in port.allowed_address_pairs or []:
        message.allowed_address_pairs.add(ip_address=ip, mac_address=mac)
    return message


def _rule(rule) -> pb.NodeSecurityRule:
    low, high = security_groups.wire_range(rule)
    return pb.NodeSecurityRule(
        rule_id=rule.id,
        direction=DIRECTIONS[rule.direction],
        ip_version=6 if rule.ethertype == "IPv6" else 4,
        protocol=rule.protocol,
        port_range_min=low,
        port_range_max=high,
        remote_ip_prefix=rule.remote_ip_prefix,
        remote_group_id=rule.remote_group_id,
    )


def network_state(state: NodeState) -> pb.NetworkState:
    message = pb.NetworkState(revision=state.revision)
    for wiring in state.networks:
        net = wiring.network
        node_net = message.networks.add(
            network_id=net.id,
            network_type=NETWORK_TYPES[net.network_type],
            physical_network=net.physical_network,
            segmentation_id=net.segmentation_id,
            mtu=net.mtu,
            vxlan_peers=wiring.vxlan_peers,
            admin_state_up=net.admin_state_up,
        )
        for subnet in wiring.subnets:
            node_subnet = node_net.subnets.add(
                subnet_id=subnet.id,
                cidr=subnet.cidr,
                ip_version=subnet.ip_version,
                gateway_ip=subnet.gateway_ip or "",
                enable_dhcp=subnet.enable_dhcp,
                dns_nameservers=subnet.dns_nameservers or [],
            )
            for destination, nexthop in subnet.host_routes or []:
                node_subnet.host_routes.add(destination=destination, nexthop=nexthop)
    message.ports.extend(node_port(p) for p in state.ports)
    for group in state.groups:
        message.security_groups.add(
            security_group_id=group.security_group_id,
            rules=[_rule(r) for r in group.rules],
            member_ips=group.member_ips,
        )
    return message


def same_wiring(a: pb.NetworkState | None, b: pb.NetworkState) -> bool:
    """Whether two states wire the same (their revisions aside)."""
    if a is None:
        return False
    return (
        list(a.networks) == list(b.networks)
        and list(a.ports) == list(b.ports)
        and list(a.security_groups) == list(b.security_groups)
    )


def port_statuses(report: pb.PortStatusReport) -> list[tuple[str, str]]:
    return [
        (entry.port_id, PORT_STATUSES[entry.status])
        for entry in report.ports
        if entry.status in PORT_STATUSES
    ]
