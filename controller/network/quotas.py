"""Per-project limits on networks, subnets, ports, security groups and rules, counted from the
live rows (as Neutron's counting quota driver). A check runs in the creating transaction after
the project's row is locked, so two creates cannot both take the last unit."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from peewee import fn

from controller.compute.api.quota_rules import check, check_limit_value
from controller.db.database import for_update, upsert
from controller.db.prepared import Param, Prepared
from controller.identity.models import Project
from controller.network.models import (
    Network,
    NetworkQuota,
    Port,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
)
from stratus_common.errors import NotFound

# The lock every quota of a project queues on (the compute API takes the same row).
_LOCK_PROJECT = Prepared(
    lambda: for_update(Project.select(Project.id).where(Project.id == Param("project_id")))
)


@dataclass(frozen=True)
class NetworkQuotaValues:
    networks: int = 0
    subnets: int = 0
    ports: int = 0
    security_groups: int = 0
    security_group_rules: int = 0

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


_COUNTED = {
    "networks": Network,
    "subnets": Subnet,
    "ports": Port,
    "security_groups": SecurityGroup,
    "security_group_rules": SecurityGroupRule,
}


_LIMITS = Prepared(
    lambda: NetworkQuota.select(NetworkQuota.resource, NetworkQuota.hard_limit).where(
        NetworkQuota.project_id == Param("project_id")
    )
)
_COUNTS = {
    name: Prepared(
        lambda model=model: model.select(fn.COUNT(model.id)).where(
            model.project_id == Param("project_id")
        )
    )
    for name, model in _COUNTED.items()
}


class NetworkQuotas:
    def __init__(self, db, defaults: dict[str, int]):
        self.db = db
        self.defaults = NetworkQuotaValues(**defaults)

    def limits(self, project_id: str) -> NetworkQuotaValues:
        rows = _LIMITS.execute(project_id=project_id).fetchall()
        known = set(NetworkQuotaValues.names())
        return replace(self.defaults, **{name: value for name, value in rows if name in known})

    def usage(self, project_id: str) -> NetworkQuotaValues:
        return NetworkQuotaValues(
            **{
                name: model.select().where(model.project_id == project_id).count()
                for name, model in _COUNTED.items()
            }
        )

    def take(self, project_id: str, resource: str, count: int = 1) -> None:
        """Locks the project's row, then raises RESOURCE_EXHAUSTED (QUOTA_EXCEEDED) if
        `count` more of `resource` would pass its limit."""
        _LOCK_PROJECT.execute(project_id=project_id)
        self.check(project_id, resource, count)

    def check(self, project_id: str, resource: str, count: int) -> None:
        """The same without the lock: an early answer, which `take` confirms later."""
        limits = self.limits(project_id)
        if getattr(limits, resource) < 0:
            return
        used = _COUNTS[resource].execute(project_id=project_id).fetchone()[0]
        check(limits, replace(NetworkQuotaValues(), **{resource: used}), **{resource: count})

    def update(self, project_id: str, changes: dict[str, int]) -> None:
        if Project.get_or_none(Project.id == project_id) is None:
            raise NotFound(
                f"project {project_id} not found", reason="PROJECT_NOT_FOUND", project_id=project_id
            )
        for name, value in changes.items():
            check_limit_value(name, value)
        with self.db.write_transaction():
            for name, value in changes.items():
                upsert(
                    NetworkQuota.insert(project_id=project_id, resource=name, hard_limit=value),
                    [NetworkQuota.project_id, NetworkQuota.resource],
                    {NetworkQuota.hard_limit: value},
                ).execute()
