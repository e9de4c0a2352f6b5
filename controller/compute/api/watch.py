"""What WatchServers reads: servers changed after a revision, in revision order."""

from __future__ import annotations

from controller.compute.records.models import Instance

BATCH = 200


def changes_after(
    caller,
    revision: int,
    server_id: str = "",
    all_projects: bool = False,
    include_deleted: bool = True,
) -> list[Instance]:
    """A stream's backlog."""
    query = Instance.select().where(Instance.revision > revision)
    # A named server was found visible before the watch began (an admin sees any project's,
    # as GetServer does)
    if not (caller.is_admin and (all_projects or server_id)):
        query = query.where(Instance.project_id == caller.project_id)
    if server_id:
        query = query.where(Instance.id == server_id)
    if not include_deleted:
        query = query.where(Instance.deleted_at.is_null())
    return list(query.order_by(Instance.revision).limit(BATCH))


def rows_after(revision: int) -> list[Instance]:
    """Every server changed after `revision`: what the change feed reads."""
    return list(
        Instance.select()
        .where(Instance.revision > revision)
        .order_by(Instance.revision)
        .limit(BATCH)
    )


def matcher(caller, server_id: str = "", all_projects: bool = False):
    """The filter of changes_after, for rows the change feed offers."""
    everyone = caller.is_admin and all_projects

    def matches(row: Instance) -> bool:
        return (everyone or row.project_id == caller.project_id) and (
            not server_id or row.id == server_id
        )

    return matches
