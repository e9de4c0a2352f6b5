"""The outbox of node commands: durable, ordered per node, finished exactly once.

Every function runs inside the caller's write transaction (Database.write_transaction).
"""

from __future__ import annotations

import datetime
import uuid

from controller.compute.conductor.commands import Body
from controller.compute.conductor.models import NodeCommand
from controller.db import statements
from controller.db.queries import utcnow

PENDING, DELIVERED = "pending", "delivered"
SUCCEEDED, FAILED, TIMED_OUT = "succeeded", "failed", "timed_out"
LIVE = (PENDING, DELIVERED)


def command(
    node_id: str, instance_id: str | None, body: Body, request_id: str, timeout: float
) -> dict:
    """A new command's row, for enqueue_rows."""
    now = utcnow()
    return dict(
        id=str(uuid.uuid4()),
        node_id=node_id,
        instance_id=instance_id,
        kind=body.kind,
        body=body.data,
        request_id=(request_id or "")[:128],
        state=PENDING,
        deliveries=0,
        created_at=now,
        expires_at=now + datetime.timedelta(seconds=timeout),
    )


def enqueue(
    node_id: str, instance_id: str | None, body: Body, request_id: str, timeout: float
) -> NodeCommand:
    values = command(node_id, instance_id, body, request_id, timeout)
    seq = statements.insert(NodeCommand, values, returning_id=True)
    return NodeCommand(seq=seq, **values)


def enqueue_rows(rows: list[dict]) -> None:
    """Many commands (command()) in one statement: a batch of placements' spawns, under the
    write lock."""
    statements.insert_rows(NodeCommand, rows)


def live_for_instance(instance_id: str, kind: str | None = None) -> list[NodeCommand]:
    query = NodeCommand.select().where(
        NodeCommand.instance_id == instance_id, NodeCommand.state.in_(LIVE)
    )
    if kind:
        query = query.where(NodeCommand.kind == kind)
    return list(query.order_by(NodeCommand.seq))


def nodes_with_pending() -> set[str]:
    """The nodes that have commands waiting to be written on their streams."""
    query = NodeCommand.select(NodeCommand.node_id).where(NodeCommand.state == PENDING).distinct()
    return {row.node_id for row in query}


def take_for_delivery(node_id: str, limit: int, resend: bool) -> list[NodeCommand]:
    """The next commands to write on the node's stream, marked delivered. `resend` (a new
    stream) includes those delivered before and never answered, first."""
    rows: list[NodeCommand] = []
    if resend:
        rows = list(
            NodeCommand.select()
            .where(NodeCommand.node_id == node_id, NodeCommand.state == DELIVERED)
            .order_by(NodeCommand.seq)
        )
    inflight = (
        NodeCommand.select()
        .where(NodeCommand.node_id == node_id, NodeCommand.state == DELIVERED)
        .count()
    )
    room = max(0, limit - inflight)
    if room:
        rows += list(
            NodeCommand.select()
            .where(NodeCommand.node_id == node_id, NodeCommand.state == PENDING)
            .order_by(NodeCommand.seq)
            .limit(room)
        )
    if rows:
        now = utcnow()
        (
            NodeCommand.update(
                state=DELIVERED, delivered_at=now, deliveries=NodeCommand.deliveries + 1
            )
            .where(NodeCommand.seq.in_([r.seq for r in rows]))
            .execute()
        )
    return rows


def finish(
    command_id: str,
    state: str,
    result: dict | None = None,
    error_code: str = "",
    error_message: str = "",
) -> NodeCommand | None:
    """Ends a live command; None when it had already ended (a repeated result, a timeout that
    won) or never existed, so its effects are applied once whatever arrives twice."""
    done = (
        NodeCommand.update(
            state=state,
            completed_at=utcnow(),
            result=result,
            error_code=error_code[:64] or None,
            error_message=error_message[:255] or None,
        )
        .where(NodeCommand.id == command_id, NodeCommand.state.in_(LIVE))
        .execute()
    )
    if not done:
        return None
    return NodeCommand.get(NodeCommand.id == command_id)


def expired(now: datetime.datetime, limit: int = 100) -> list[NodeCommand]:
    return list(
        NodeCommand.select()
        .where(NodeCommand.state.in_(LIVE), NodeCommand.expires_at < now)
        .order_by(NodeCommand.seq)
        .limit(limit)
    )


def purge(before: datetime.datetime) -> int:
    return (
        NodeCommand.delete()
        .where(NodeCommand.state.not_in(LIVE), NodeCommand.completed_at < before)
        .execute()
    )


def get(command_id: str) -> NodeCommand | None:
    return NodeCommand.get_or_none(NodeCommand.id == command_id)
