"""Per-project quota limits and usage counted from the live rows (Nova's counting quotas).

Checks run inside the caller's write transaction after the project's row is locked, so two
concurrent creates in one project cannot both take the last unit (on SQLite the transaction's
BEGIN IMMEDIATE already serialises writers).
"""

from __future__ import annotations

from controller.compute.api.models import KeyPair, QuotaLimit
from controller.compute.api.quota_rules import UNLIMITED, QuotaValues, check, check_limit_value
from controller.compute.records.models import ServerGroup, ServerGroupMember
from controller.db.database import for_update, upsert
from controller.db.prepared import Param, Prepared
from controller.identity.models import Project
from stratus_common.errors import NotFound

# Both run in every batch of creates, under the write lock.
_LIMITS = Prepared(
    lambda: QuotaLimit.select(QuotaLimit.resource, QuotaLimit.hard_limit).where(
        QuotaLimit.project_id == Param("project_id")
    )
)
_LOCK_PROJECT = Prepared(
    lambda: for_update(Project.select(Project.id).where(Project.id == Param("project_id")))
)


class Quotas:
    def __init__(self, db, defaults: QuotaValues, count_servers=None):
        self.db = db
        self.defaults = defaults
        # (project_id) -> (instances, cores, ram_mb); set by the servers module
        self.count_servers = count_servers or (lambda project_id: (0, 0, 0))

    def limits(self, project_id: str) -> QuotaValues:
        overrides = dict(_LIMITS.execute(project_id=project_id).fetchall())
        known = {k: v for k, v in overrides.items() if k in QuotaValues.names()}
        return self.defaults.with_values(**known)

    def usage(self, project_id: str, user_id: str = "") -> QuotaValues:
        instances, cores, ram_mb = self.count_servers(project_id)
        key_pairs = KeyPair.select().where(KeyPair.user_id == user_id).count() if user_id else 0
        groups = ServerGroup.select().where(ServerGroup.project_id == project_id).count()
        return QuotaValues(
            instances=instances,
            cores=cores,
            ram_mb=ram_mb,
            key_pairs=key_pairs,
            server_groups=groups,
        )

    def lock(self, project_id: str) -> None:
        """Serialises quota checks of one project across threads and controller replicas."""
        _LOCK_PROJECT.execute(project_id=project_id)

    def check_key_pairs(self, caller) -> None:
        self.lock(caller.project_id)
        check(
            self.limits(caller.project_id),
            self.usage(caller.project_id, caller.user_id),
            key_pairs=1,
        )

    def check_server_groups(self, caller) -> None:
        self.lock(caller.project_id)
        check(self.limits(caller.project_id), self.usage(caller.project_id), server_groups=1)

    def server_budget(self, project_id: str) -> ServerBudget:
        """Call with the project locked (lock()) in the transaction that creates servers."""
        return ServerBudget(self, project_id)

    def update(self, project_id: str, changes: dict[str, int]) -> None:
        if Project.get_or_none(Project.id == project_id) is None:
            raise NotFound(
                f"project {project_id} not found", reason="PROJECT_NOT_FOUND", project_id=project_id
            )
        with self.db.write_transaction():
            for name, value in changes.items():
                check_limit_value(name, value)
                upsert(
                    QuotaLimit.insert(project_id=project_id, resource=name, hard_limit=value),
                    [QuotaLimit.project_id, QuotaLimit.resource],
                    {QuotaLimit.hard_limit: value},
                ).execute()

    def reset(self, project_id: str) -> None:
        QuotaLimit.delete().where(QuotaLimit.project_id == project_id).execute()


class ServerBudget:
    """What one project may still create in the transaction holding its lock: usage is
    counted once, then charged server by server, so a batch of creates neither counts again
    per server nor misses the servers it recorded itself."""

    def __init__(self, quotas: Quotas, project_id: str):
        self.limits = quotas.limits(project_id)
        self._usage = None
        # Counting scans the project's servers: skip it when no limit could be reached.
        if any(
            v != UNLIMITED for v in (self.limits.instances, self.limits.cores, self.limits.ram_mb)
        ):
            instances, cores, ram_mb = quotas.count_servers(project_id)
            self._usage = QuotaValues(instances=instances, cores=cores, ram_mb=ram_mb)
        self._members: dict[str, int] = {}  # server group id -> members

    def charge(self, vcpus: int, ram_mb: int, group_id: str | None) -> None:
        """Takes one server's share, or raises RESOURCE_EXHAUSTED naming the quota."""
        if self._usage is not None:
            check(self.limits, self._usage, instances=1, cores=vcpus, ram_mb=ram_mb)
        if group_id:
            members = self._members.get(group_id)
            if members is None:
                members = (
                    ServerGroupMember.select().where(ServerGroupMember.group_id == group_id).count()
                )
            check(self.limits, QuotaValues(server_group_members=members), server_group_members=1)
            self._members[group_id] = members + 1
        if self._usage is not None:
            u = self._usage
            self._usage = u.with_values(
                instances=u.instances + 1, cores=u.cores + vcpus, ram_mb=u.ram_mb + ram_mb
            )
