"""What one compute node must wire, computed from the tables: every port bound to it, the
networks of those ports (with their subnets and, for VXLAN, the tunnel addresses of the other
nodes with ports on them), and the security groups those ports use (with their rules and the
addresses of every member, wherever it runs), plus the groups their rules name as remotes."""

from __future__ import annotations

from dataclasses import dataclass, field

from controller.network import ports as port_rows
from controller.network import revision
from controller.network.models import (
    Network,
    NetworkNode,
    Port,
    PortSecurityGroup,
    SecurityGroupRule,
    Subnet,
)


@dataclass(frozen=True)
class PortWiring:
    port: Port
    fixed_ips: list[tuple[str, str]]  # (subnet id, address)
    security_group_ids: list[str]
    mtu: int


@dataclass(frozen=True)
class NetworkWiring:
    network: Network
    subnets: list[Subnet]
    vxlan_peers: list[str]


@dataclass(frozen=True)
class GroupWiring:
    security_group_id: str
    rules: list[SecurityGroupRule]
    member_ips: list[str]


@dataclass(frozen=True)
class NodeState:
    revision: int
    networks: list[NetworkWiring] = field(default_factory=list)
    ports: list[PortWiring] = field(default_factory=list)
    groups: list[GroupWiring] = field(default_factory=list)


def wiring(rows: list[Port]) -> list[PortWiring]:
    ids = [p.id for p in rows]
    ips = port_rows.fixed_ips(ids)
    groups = port_rows.group_ids(ids)
    mtus = (
        dict(
            Network.select(Network.id, Network.mtu)
            .where(Network.id.in_(sorted({p.network_id for p in rows})))
            .tuples()
        )
        if rows
        else {}
    )
    return [PortWiring(p, ips[p.id], sorted(groups[p.id]), mtus.get(p.network_id, 0)) for p in rows]


def _peers(node_id: str, network_ids: list[str]) -> dict[str, list[str]]:
    found: dict[str, set[str]] = {n: set() for n in network_ids}
    query = (
        Port.select(Port.network_id, NetworkNode.tunnel_ip)
        .join(NetworkNode, on=(Port.binding_node_id == NetworkNode.node_id))
        .where(
            Port.network_id.in_(network_ids),
            Port.binding_node_id != node_id,
            NetworkNode.tunnel_ip != "",
        )
        .distinct()
    )
    for network_id, tunnel_ip in query.tuples():
        found[network_id].add(tunnel_ip)
    return {n: sorted(ips) for n, ips in found.items()}


def _groups(group_ids: set[str]) -> list[GroupWiring]:
    rules: dict[str, list[SecurityGroupRule]] = {g: [] for g in group_ids}
    for rule in (
        SecurityGroupRule.select()
        .where(SecurityGroupRule.security_group_id.in_(sorted(group_ids)))
        .order_by(SecurityGroupRule.id)
    ):
        rules[rule.security_group_id].append(rule)
    remotes = {r.remote_group_id for rs in rules.values() for r in rs if r.remote_group_id}
    for remote in remotes - group_ids:  # named by a rule: the node needs its members
        rules[remote] = []
    members: dict[str, set[str]] = {g: set() for g in rules}
    query = (
        PortSecurityGroup.select(
            PortSecurityGroup.security_group_id, port_rows.IpAllocation.ip_address
        )
        .join(
            port_rows.IpAllocation, on=(PortSecurityGroup.port_id == port_rows.IpAllocation.port_id)
        )
        .where(PortSecurityGroup.security_group_id.in_(sorted(rules)))
    )
    for group_id, ip in query.tuples():
        members[group_id].add(ip)
    return [GroupWiring(g, rules[g], sorted(members[g])) for g in sorted(rules)]


def compute(node_id: str) -> NodeState:
    """The node's whole state, at the revision read first (a change committed meanwhile
    moves the counter again, so the node gets it on the next round)."""
    rev = revision.current()
    rows = list(
        Port.select()
        .where(Port.binding_node_id == node_id)
        .order_by(Port.device_id, Port.device_index, Port.id)
    )
    ports = wiring(rows)
    network_ids = sorted({p.network_id for p in rows})
    networks = (
        list(Network.select().where(Network.id.in_(network_ids)).order_by(Network.id))
        if rows
        else []
    )
    subnets: dict[str, list[Subnet]] = {n: [] for n in network_ids}
    if rows:
        for subnet in (
            Subnet.select()
            .where(Subnet.network_id.in_(network_ids))
            .order_by(Subnet.created_at, Subnet.id)
        ):
            subnets[subnet.network_id].append(subnet)
    peers = _peers(node_id, network_ids) if rows else {}
    group_ids = {g for p in ports if p.port.port_security_enabled for g in p.security_group_ids}
    return NodeState(
        revision=rev,
        networks=[
            NetworkWiring(
                n, subnets[n.id], peers.get(n.id, []) if n.network_type == "vxlan" else []
            )
            for n in networks
        ],
        ports=ports,
        groups=_groups(group_ids) if group_ids else [],
    )
