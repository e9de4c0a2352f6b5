"""Who sees what: a project sees its own networks, ports and groups, and shared networks
(with their subnets); admins see everything. Another project's resource is NOT_FOUND, never
PERMISSION_DENIED, so its existence does not leak."""

from __future__ import annotations

from controller.db.prepared import Param, Prepared
from controller.db.queries import by_primary_key
from controller.network.models import Network, Port, SecurityGroup, SecurityGroupRule, Subnet
from stratus_common.errors import NotFound, PermissionDenied


def missing(what: str, resource_id: str) -> NotFound:
    return NotFound(
        f"{what.replace('_', ' ')} {resource_id} not found",
        reason=f"{what.upper()}_NOT_FOUND",
        **{f"{what}_id": resource_id},
    )


def visible_networks(caller, query=None):
    query = query if query is not None else Network.select()
    if caller.is_admin:
        return query
    return query.where((Network.project_id == caller.project_id) | Network.shared)


# Every port create reads its network: rendered once.
_VISIBLE_NETWORK = Prepared(
    lambda: Network.select().where(
        Network.id == Param("id"),
        (Network.project_id == Param("project_id")) | Network.shared,
    )
)


def network(caller, network_id: str) -> Network:
    row = (
        by_primary_key(Network).first(id=network_id)
        if caller.is_admin
        else _VISIBLE_NETWORK.first(id=network_id, project_id=caller.project_id)
    )
    if row is None:
        raise missing("network", network_id)
    return row


def owned_network(caller, network_id: str) -> Network:
    """A network the caller may change: its own (a shared one it only uses is refused)."""
    row = network(caller, network_id)
    if not caller.is_admin and row.project_id != caller.project_id:
        raise PermissionDenied(
            "only the network's project may change it", reason="NETWORK_NOT_OWNED"
        )
    return row


def visible_subnets(caller, query=None):
    query = query if query is not None else Subnet.select()
    if caller.is_admin:
        return query
    shared = Network.select(Network.id).where(Network.shared)
    return query.where((Subnet.project_id == caller.project_id) | Subnet.network_id.in_(shared))


def subnet(caller, subnet_id: str) -> Subnet:
    row = visible_subnets(caller).where(Subnet.id == subnet_id).first()
    if row is None:
        raise missing("subnet", subnet_id)
    return row


def own(model, caller, query=None):
    query = query if query is not None else model.select()
    return query if caller.is_admin else query.where(model.project_id == caller.project_id)


def port(caller, port_id: str) -> Port:
    row = own(Port, caller).where(Port.id == port_id).first()
    if row is None:
        raise missing("port", port_id)
    return row


def security_group(caller, group_id: str) -> SecurityGroup:
    row = own(SecurityGroup, caller).where(SecurityGroup.id == group_id).first()
    if row is None:
        raise missing("security_group", group_id)
    return row


def security_group_rule(caller, rule_id: str) -> SecurityGroupRule:
    row = own(SecurityGroupRule, caller).where(SecurityGroupRule.id == rule_id).first()
    if row is None:
        raise missing("security_group_rule", rule_id)
    return row


def project_for_create(caller, requested: str, field: str) -> str:
    """The project a new resource belongs to: the caller's, or (admins only) another."""
    if not requested or requested == caller.project_id:
        return caller.project_id
    if not caller.is_admin:
        raise PermissionDenied(
            f"only admins may set {field}", reason="ADMIN_ONLY_FIELD", field=field
        )
    return requested
