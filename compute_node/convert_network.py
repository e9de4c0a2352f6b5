"""stratus.node.v1 network messages <-> compute_node.network values, for the agent."""

from __future__ import annotations

from compute_node.drivers.base import NicSpec
from compute_node.network import model, names
from stratus.node.v1 import node_service_pb2 as pb

NETWORK_TYPES = {
    pb.NETWORK_TYPE_FLAT: model.NetworkType.FLAT,
    pb.NETWORK_TYPE_VLAN: model.NetworkType.VLAN,
    pb.NETWORK_TYPE_VXLAN: model.NetworkType.VXLAN,
}
DIRECTIONS = {
    pb.RULE_DIRECTION_INGRESS: model.Direction.INGRESS,
    pb.RULE_DIRECTION_EGRESS: model.Direction.EGRESS,
}
PORT_STATUS = {
    model.PortStatus.DOWN: pb.PORT_STATUS_DOWN,
    model.PortStatus.BUILD: pb.PORT_STATUS_BUILD,
    model.PortStatus.ACTIVE: pb.PORT_STATUS_ACTIVE,
    model.PortStatus.ERROR: pb.PORT_STATUS_ERROR,
}


def _subnet(msg: pb.NodeSubnet) -> model.Subnet:
    return model.Subnet(
        subnet_id=msg.subnet_id,
        cidr=msg.cidr,
        ip_version=msg.ip_version or 4,
        gateway_ip=msg.gateway_ip,
        enable_dhcp=msg.enable_dhcp,
        dns_nameservers=tuple(msg.dns_nameservers),
        host_routes=tuple(model.HostRoute(r.destination, r.nexthop) for r in msg.host_routes),
    )


def _network(msg: pb.NodeNetwork) -> model.Network | None:
    kind = NETWORK_TYPES.get(msg.network_type)
    if kind is None:
        return None
    return model.Network(
        network_id=msg.network_id,
        network_type=kind,
        physical_network=msg.physical_network,
        segmentation_id=msg.segmentation_id,
        mtu=msg.mtu or 1500,
        vxlan_peers=tuple(msg.vxlan_peers),
        subnets=tuple(_subnet(s) for s in msg.subnets),
        admin_state_up=msg.admin_state_up,
    )


def _port(msg: pb.NodePort) -> model.Port:
    return model.Port(
        port_id=msg.port_id,
        network_id=msg.network_id,
        mac_address=msg.mac_address,
        instance_id=msg.instance_id,
        fixed_ips=tuple(model.FixedIp(f.subnet_id, f.ip_address) for f in msg.fixed_ips),
        port_security_enabled=msg.port_security_enabled,
        security_group_ids=tuple(msg.security_group_ids),
        allowed_address_pairs=tuple(
            model.AddressPair(p.ip_address, p.mac_address) for p in msg.allowed_address_pairs
        ),
        mtu=msg.mtu,
        admin_state_up=msg.admin_state_up,
    )


def _rule(msg: pb.NodeSecurityRule) -> model.Rule | None:
    direction = DIRECTIONS.get(msg.direction)
    if direction is None:
        return None
    return model.Rule(
        rule_id=msg.rule_id,
        direction=direction,
        ip_version=msg.ip_version or 4,
        protocol=msg.protocol,
        port_range_min=msg.port_range_min,
        port_range_max=msg.port_range_max,
        remote_ip_prefix=msg.remote_ip_prefix,
        remote_group_id=msg.remote_group_id,
    )


def network_state(msg: pb.NetworkState) -> model.NetworkState:
    """The state as this agent understands it: a network of a type it does not know, or a
    rule of a direction it does not know, is left out (its ports then report ERROR; a rule
    left out admits nothing)."""
    networks = [n for n in map(_network, msg.networks) if n is not None]
    return model.NetworkState(
        revision=msg.revision,
        networks=tuple(networks),
        ports=tuple(_port(p) for p in msg.ports),
        security_groups=tuple(
            model.SecurityGroup(
                security_group_id=g.security_group_id,
                rules=tuple(r for r in map(_rule, g.rules) if r is not None),
                member_ips=tuple(g.member_ips),
            )
            for g in msg.security_groups
        ),
    )


def port_status(report: model.StatusReport) -> pb.ConnectRequest:
    return pb.ConnectRequest(
        port_status=pb.PortStatusReport(
            revision=report.revision,
            ports=[
                pb.PortStatusEntry(
                    port_id=p.port_id, status=PORT_STATUS[p.status], detail=p.detail[:1000]
                )
                for p in report.ports
            ],
        )
    )


def nics(ports) -> tuple[NicSpec, ...]:
    """The spawn's ports as the guest's interfaces, in order."""
    return tuple(
        NicSpec(
            port_id=p.port_id,
            mac_address=p.mac_address,
            tap=names.tap(p.port_id),
            mtu=p.mtu,
        )
        for p in ports
    )
