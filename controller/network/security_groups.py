"""Security groups and their rules, with Neutron's per-project `default` group: egress open,
ingress only from ports of the same group; a new group starts with egress open, as Neutron's.
The default group is made the first time the project needs it (its first port, or a look at
its groups), once whatever the concurrency: its project row is locked first and
`default_security_group` has one row per project."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from controller import validation
from controller.db.paging import paginate
from controller.db.queries import by_primary_key, utcnow
from controller.network import access, addresses, revision
from controller.network.models import (
    DefaultSecurityGroup,
    PortSecurityGroup,
    SecurityGroup,
    SecurityGroupRule,
)
from stratus_common.errors import AlreadyExists, FailedPrecondition, InvalidArgument

DEFAULT = "default"
INGRESS, EGRESS = "ingress", "egress"
ETHERTYPES = {"IPv4": 4, "IPv6": 6}
PORTED = {"tcp", "udp"}
ICMP = {"icmp", "icmpv6"}
NAMED = PORTED | ICMP


@dataclass(frozen=True)
class RuleSpec:
    security_group_id: str
    direction: str  # ingress | egress
    ethertype: str = "IPv4"
    protocol: str = ""
    port_range_min: int = 0
    port_range_max: int = 0
    remote_ip_prefix: str = ""
    remote_group_id: str = ""
    description: str = ""


def _new_group(project_id: str, name: str, description: str) -> SecurityGroup:
    now = utcnow()
    return SecurityGroup.create(
        id=str(uuid.uuid4()),
        project_id=project_id,
        name=name,
        description=description,
        created_at=now,
        updated_at=now,
    )


def _new_rule(project_id: str, group_id: str, **values) -> SecurityGroupRule:
    return SecurityGroupRule.create(
        id=str(uuid.uuid4()),
        security_group_id=group_id,
        project_id=project_id,
        created_at=utcnow(),
        **values,
    )


def default_group(quotas, project_id: str) -> str:
    """The project's `default` group's id, made now if it has none (inside the caller's
    write transaction)."""
    row = by_primary_key(DefaultSecurityGroup).first(id=project_id)
    if row is not None:
        return row.security_group_id
    quotas.take(project_id, "security_groups", 0)  # only its lock: the default is not counted
    row = DefaultSecurityGroup.get_or_none(DefaultSecurityGroup.project_id == project_id)
    if row is not None:  # made while this one waited for the lock
        return row.security_group_id
    group = _new_group(project_id, DEFAULT, "Default security group")
    for ethertype in ETHERTYPES:
        _new_rule(project_id, group.id, direction=EGRESS, ethertype=ethertype)
        _new_rule(
            project_id, group.id, direction=INGRESS, ethertype=ethertype, remote_group_id=group.id
        )
    DefaultSecurityGroup.create(project_id=project_id, security_group_id=group.id)
    revision.bump()
    return group.id


def create(db, quotas, caller, name: str, description: str) -> SecurityGroup:
    validation.name("security_group.name", name)
    validation.text("security_group.description", description)
    if name == DEFAULT:
        raise InvalidArgument("security_group.name", "`default` is the project's own group")
    with db.write_transaction():
        default_group(quotas, caller.project_id)
        quotas.take(caller.project_id, "security_groups")
        group = _new_group(caller.project_id, name, description)
        for ethertype in ETHERTYPES:  # as Neutron: a new group lets its ports send anything
            _new_rule(caller.project_id, group.id, direction=EGRESS, ethertype=ethertype)
        return group


def ensure_default(db, quotas, caller) -> None:
    if DefaultSecurityGroup.get_or_none(DefaultSecurityGroup.project_id == caller.project_id):
        return
    with db.write_transaction():
        default_group(quotas, caller.project_id)


def rules_of(group_ids: list[str]) -> dict[str, list[SecurityGroupRule]]:
    found: dict[str, list[SecurityGroupRule]] = {g: [] for g in group_ids}
    if group_ids:
        for rule in (
            SecurityGroupRule.select()
            .where(SecurityGroupRule.security_group_id.in_(group_ids))
            .order_by(SecurityGroupRule.created_at, SecurityGroupRule.id)
        ):
            found[rule.security_group_id].append(rule)
    return found


def list_(caller, page, *, name="", all_projects=False):
    query = (
        SecurityGroup.select()
        if all_projects and caller.is_admin
        else access.own(SecurityGroup, caller)
    )
    if name:
        query = query.where(SecurityGroup.name == name)
    return paginate(query, page, [SecurityGroup.created_at, SecurityGroup.id])


def update(db, caller, group_id: str, changes: dict) -> SecurityGroup:
    if "name" in changes:
        validation.name("security_group.name", changes["name"])
    if "description" in changes:
        validation.text("security_group.description", changes["description"])
    with db.write_transaction():
        row = access.security_group(caller, group_id)
        if "name" in changes and (row.name == DEFAULT) != (changes["name"] == DEFAULT):
            raise InvalidArgument("security_group.name", "only the default group is `default`")
        SecurityGroup.update(updated_at=utcnow(), **changes).where(
            SecurityGroup.id == row.id
        ).execute()
        return SecurityGroup.get_by_id(row.id)


def delete(db, caller, group_id: str) -> None:
    with db.write_transaction():
        row = access.security_group(caller, group_id)
        if DefaultSecurityGroup.get_or_none(DefaultSecurityGroup.security_group_id == row.id):
            raise FailedPrecondition(
                "the default security group cannot be deleted", reason="DEFAULT_SECURITY_GROUP"
            )
        if PortSecurityGroup.select().where(PortSecurityGroup.security_group_id == row.id).exists():
            raise FailedPrecondition(
                f"security group {row.id} is in use by a port",
                reason="SECURITY_GROUP_IN_USE",
                security_group_id=row.id,
            )
        # Rules of other groups that admit this one's members go with it, as in Neutron.
        SecurityGroupRule.delete().where(SecurityGroupRule.remote_group_id == row.id).execute()
        SecurityGroup.delete().where(SecurityGroup.id == row.id).execute()
        revision.bump()


def _rule_values(caller, spec: RuleSpec) -> dict:
    if spec.direction not in (INGRESS, EGRESS):
        raise InvalidArgument("security_group_rule.direction", "is required: ingress or egress")
    if spec.ethertype not in ETHERTYPES:
        raise InvalidArgument("security_group_rule.ethertype", "must be IPv4 or IPv6")
    version = ETHERTYPES[spec.ethertype]
    protocol = _protocol(spec.protocol.lower(), version)
    low, high = _ports(protocol, spec.port_range_min, spec.port_range_max)
    if spec.remote_ip_prefix and spec.remote_group_id:
        raise InvalidArgument(
            "security_group_rule.remote_ip_prefix",
            "give a remote prefix or a remote group, not both",
        )
    prefix = ""
    if spec.remote_ip_prefix:
        net = addresses.prefix("security_group_rule.remote_ip_prefix", spec.remote_ip_prefix)
        if net.version != version:
            raise InvalidArgument(
                "security_group_rule.remote_ip_prefix", f"is not an {spec.ethertype} prefix"
            )
        prefix = str(net)
    if spec.remote_group_id:
        access.security_group(caller, spec.remote_group_id)
    return dict(
        direction=spec.direction,
        ethertype=spec.ethertype,
        protocol=protocol,
        port_range_min=low,
        port_range_max=high,
        remote_ip_prefix=prefix,
        remote_group_id=spec.remote_group_id,
        description=validation.text("security_group_rule.description", spec.description),
    )


def _protocol(value: str, version: int) -> str:
    if value in ("ipv6-icmp", "icmpv6") and version == 6:
        return "icmpv6"
    if value == "icmp" and version == 6:
        return "icmpv6"
    if value in ("", *NAMED):
        if value == "icmpv6" and version == 4:
            raise InvalidArgument("security_group_rule.protocol", "icmpv6 needs ethertype IPv6")
        return value
    if value.isdigit() and 0 <= int(value) <= 255:
        return str(int(value))
    raise InvalidArgument(
        "security_group_rule.protocol", "must be tcp, udp, icmp, icmpv6 or a number 0-255"
    )


def _ports(protocol: str, low: int, high: int) -> tuple[int | None, int | None]:
    """The stored range: None for any. tcp/udp: 1-65535, min <= max, both 0 for any. icmp:
    type in min and code in max, 0-255 each, -1 (or both 0) for any."""
    if low == 0 and high == 0:
        return None, None
    field = "security_group_rule.port_range_min"
    if protocol in PORTED:
        if not (1 <= low <= 65535 and 1 <= high <= 65535):
            raise InvalidArgument(field, "ports are 1-65535")
        if low > high:
            raise InvalidArgument(field, "must not be above port_range_max")
        return low, high
    if protocol in ICMP:
        if not (-1 <= low <= 255 and -1 <= high <= 255):
            raise InvalidArgument(field, "an ICMP type and code are 0-255, or -1 for any")
        if low == -1 and high != -1:
            raise InvalidArgument("security_group_rule.port_range_max", "needs an ICMP type")
        return (None if low == -1 else low), (None if high == -1 else high)
    raise InvalidArgument(field, "port ranges apply to tcp, udp and icmp only")


def wire_range(rule: SecurityGroupRule) -> tuple[int, int]:
    """A stored rule's range as the API and the node protocol say it: tcp/udp any is 0/0,
    ICMP any type or code is -1."""
    none = -1 if rule.protocol in ICMP else 0
    low, high = rule.port_range_min, rule.port_range_max
    return (none if low is None else low), (none if high is None else high)


def create_rule(db, quotas, caller, spec: RuleSpec) -> SecurityGroupRule:
    with db.write_transaction():
        group = access.security_group(caller, spec.security_group_id)
        values = _rule_values(caller, spec)
        same = {k: v for k, v in values.items() if k != "description"}
        query = SecurityGroupRule.select().where(SecurityGroupRule.security_group_id == group.id)
        for key, value in same.items():
            column = getattr(SecurityGroupRule, key)
            query = query.where(column.is_null() if value is None else column == value)
        if query.exists():
            raise AlreadyExists(
                "the security group already has this rule",
                reason="SECURITY_GROUP_RULE_EXISTS",
                security_group_id=group.id,
            )
        quotas.take(group.project_id, "security_group_rules")
        rule = _new_rule(group.project_id, group.id, **values)
        revision.bump()
        return rule


def list_rules(caller, page, *, security_group_id="", direction="", all_projects=False):
    query = (
        SecurityGroupRule.select()
        if all_projects and caller.is_admin
        else access.own(SecurityGroupRule, caller)
    )
    if security_group_id:
        query = query.where(SecurityGroupRule.security_group_id == security_group_id)
    if direction:
        query = query.where(SecurityGroupRule.direction == direction)
    return paginate(query, page, [SecurityGroupRule.created_at, SecurityGroupRule.id])


def delete_rule(db, caller, rule_id: str) -> None:
    with db.write_transaction():
        rule = access.security_group_rule(caller, rule_id)
        SecurityGroupRule.delete().where(SecurityGroupRule.id == rule.id).execute()
        revision.bump()
