"""Rows of the network area as stratus.network.v1 messages."""

from __future__ import annotations

from controller.network import security_groups
from controller.network.models import Network, Port, SecurityGroup, SecurityGroupRule, Subnet
from controller.rpc.convert import timestamp
from stratus.network.v1 import network_service_pb2 as pb

NETWORK_TYPES = {
    "flat": pb.NETWORK_TYPE_FLAT,
    "vlan": pb.NETWORK_TYPE_VLAN,
    "vxlan": pb.NETWORK_TYPE_VXLAN,
}
TYPE_NAMES = {v: k for k, v in NETWORK_TYPES.items()}
PORT_STATUSES = {
    "DOWN": pb.PORT_STATUS_DOWN,
    "BUILD": pb.PORT_STATUS_BUILD,
    "ACTIVE": pb.PORT_STATUS_ACTIVE,
    "ERROR": pb.PORT_STATUS_ERROR,
}
STATUS_NAMES = {v: k for k, v in PORT_STATUSES.items()}
DIRECTIONS = {"ingress": pb.RULE_DIRECTION_INGRESS, "egress": pb.RULE_DIRECTION_EGRESS}
DIRECTION_NAMES = {v: k for k, v in DIRECTIONS.items()}


def network(row: Network, subnet_ids: list[str]) -> pb.Network:
    return pb.Network(
        id=row.id,
        name=row.name,
        description=row.description,
        project_id=row.project_id,
        network_type=NETWORK_TYPES[row.network_type],
        physical_network=row.physical_network,
        segmentation_id=row.segmentation_id,
        mtu=row.mtu,
        shared=row.shared,
        external=row.external,
        admin_state_up=row.admin_state_up,
        status="ACTIVE" if row.admin_state_up else "DOWN",
        subnet_ids=subnet_ids,
        create_time=timestamp(row.created_at),
        update_time=timestamp(row.updated_at),
    )


def subnet(row: Subnet) -> pb.Subnet:
    return pb.Subnet(
        id=row.id,
        name=row.name,
        description=row.description,
        network_id=row.network_id,
        project_id=row.project_id,
        ip_version=row.ip_version,
        cidr=row.cidr,
        gateway_ip=row.gateway_ip or "",
        no_gateway=row.gateway_ip is None,
        allocation_pools=[pb.AllocationPool(start=a, end=b) for a, b in row.allocation_pools],
        dns_nameservers=row.dns_nameservers,
        host_routes=[pb.HostRoute(destination=d, nexthop=n) for d, n in row.host_routes],
        enable_dhcp=row.enable_dhcp,
        create_time=timestamp(row.created_at),
        update_time=timestamp(row.updated_at),
    )


def port(
    row: Port, fixed_ips: list[tuple[str, str]], groups: list[str], show_host: bool
) -> pb.Port:
    return pb.Port(
        id=row.id,
        name=row.name,
        description=row.description,
        network_id=row.network_id,
        project_id=row.project_id,
        mac_address=row.mac_address,
        fixed_ips=[pb.FixedIp(subnet_id=s, ip_address=ip) for s, ip in fixed_ips],
        device_id=row.device_id,
        device_owner=row.device_owner,
        security_group_ids=sorted(groups),
        port_security_enabled=row.port_security_enabled,
        allowed_address_pairs=[
            pb.AddressPair(ip_address=ip, mac_address=mac or row.mac_address)
            for ip, mac in row.allowed_address_pairs
        ],
        binding_host=row.binding_host if show_host else "",
        status=PORT_STATUSES.get(row.status, pb.PORT_STATUS_UNSPECIFIED),
        admin_state_up=row.admin_state_up,
        create_time=timestamp(row.created_at),
        update_time=timestamp(row.updated_at),
    )


def rule(row: SecurityGroupRule) -> pb.SecurityGroupRule:
    low, high = security_groups.wire_range(row)
    return pb.SecurityGroupRule(
        id=row.id,
        security_group_id=row.security_group_id,
        direction=DIRECTIONS[row.direction],
        ethertype=row.ethertype,
        protocol=row.protocol,
        port_range_min=low,
        port_range_max=high,
        remote_ip_prefix=row.remote_ip_prefix,
        remote_group_id=row.remote_group_id,
        description=row.description,
        project_id=row.project_id,
        create_time=timestamp(row.created_at),
    )


def security_group(row: SecurityGroup, rules: list[SecurityGroupRule]) -> pb.SecurityGroup:
    return pb.SecurityGroup(
        id=row.id,
        name=row.name,
        description=row.description,
        project_id=row.project_id,
        rules=[rule(r) for r in rules],
        create_time=timestamp(row.created_at),
        update_time=timestamp(row.updated_at),
    )
