"""Instance actions and their events: who did what to a server, when, and how it ended."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, cast

from peewee import fn

from controller.compute.records.models import InstanceAction, InstanceActionEvent
from controller.compute.records.statements import OVER_IDS
from controller.db import statements
from controller.db.paging import paginate
from controller.db.queries import utcnow

IN_PROGRESS, SUCCESS, ERROR = "in_progress", "success", "error"


class Actor(Protocol):
    """Who acts on a server (the compute API's Caller)."""

    user_id: str
    project_id: str
    request_id: str


def start(instance_id: str, action: str, caller: Actor, event: str = "") -> None:
    """Records the start of an action (and of its first step)."""
    start_many([(instance_id, caller)], action, event)


def start_many(started: list[tuple[str, Actor]], action: str, event: str = "") -> None:
    """start() for many servers, (instance_id, caller) each: one statement per table."""
    now = utcnow()
    statements.insert_rows(
        InstanceAction,
        [
            dict(
                instance_id=instance_id,
                action=action,
                request_id=caller.request_id or "",
                user_id=caller.user_id,
                project_id=caller.project_id,
                start_time=now,
                finish_time=None,
                result=IN_PROGRESS,
                message="",
            )
            for instance_id, caller in started
        ],
    )
    if event:
        start = InstanceActionEvent.start_time.db_value(now)  # type: ignore[no-untyped-call]
        OVER_IDS.execute(
            "start_events",
            [instance_id for instance_id, _ in started],
            action,
            before=(event, start, IN_PROGRESS),
        )


def _latest(instance_id: str, action: str | None) -> InstanceAction | None:
    query = InstanceAction.select().where(InstanceAction.instance_id == instance_id)
    if action:
        query = query.where(InstanceAction.action == action)
    row: InstanceAction | None = query.order_by(InstanceAction.id.desc()).first()
    return row


def event(instance_id: str, action: str, event: str, result: str, host: str = "") -> None:
    """Records a finished step of the latest `action` (starting it if it was not open)."""
    row = _latest(instance_id, action)
    if row is None:
        return
    now = utcnow()
    updated = (
        InstanceActionEvent.update(finish_time=now, result=result, host=host)
        .where(
            (InstanceActionEvent.action_id == row.id)
            & (InstanceActionEvent.event == event)
            & InstanceActionEvent.finish_time.is_null()
        )
        .execute()
    )
    if not updated:
        InstanceActionEvent.create(
            action_id=row.id, event=event, host=host, start_time=now, finish_time=now, result=result
        )


def finish(instance_id: str, action: str, result: str, message: str = "") -> None:
    finish_many([instance_id], action, result, message)


def finish_many(instance_ids: list[str], action: str, result: str, message: str = "") -> None:
    """Ends each server's latest `action`, unless it ended already."""
    rows = cast(
        Iterable[tuple[int]],
        InstanceAction.select(fn.MAX(InstanceAction.id))
        .where(InstanceAction.instance_id.in_(instance_ids), InstanceAction.action == action)
        .group_by(InstanceAction.instance_id)
        .tuples(),
    )  # rows as tuples, which the stubs cannot say
    latest = [row[0] for row in rows]
    if latest:
        InstanceAction.update(finish_time=utcnow(), result=result, message=message[:255]).where(
            InstanceAction.id.in_(latest), InstanceAction.finish_time.is_null()
        ).execute()


def list_(instance_id: str, page: Any) -> tuple[list[InstanceAction], str]:
    query = InstanceAction.select().where(InstanceAction.instance_id == instance_id)
    # oldest first: keyset pages ascend
    found: tuple[list[InstanceAction], str] = paginate(query, page, [InstanceAction.id])
    return found


def events_of(action_ids: list[int]) -> dict[int, list[InstanceActionEvent]]:
    found: dict[int, list[InstanceActionEvent]] = {i: [] for i in action_ids}
    for e in (
        InstanceActionEvent.select()
        .where(InstanceActionEvent.action_id.in_(action_ids))
        .order_by(InstanceActionEvent.id)
    ):
        found[e.action_id].append(e)
    return found


def latest_request_id(instance_id: str) -> str:
    """The request id of the server's latest action: what the commands of its steps carry."""
    row = (
        InstanceAction.select(InstanceAction.request_id)
        .where(InstanceAction.instance_id == instance_id)
        .order_by(InstanceAction.id.desc())
        .first()
    )
    return row.request_id if row else ""
