"""One-time console tokens, as Nova's consoleauth keeps them: random, stored only as their
SHA-256, bound to the instance, the host it runs on and the console type. A token opens one
connection (a spice-html5 page's channels count as one, see SPICE_CHANNEL_GRACE), before it
expires, while the server exists on that same host and while the user who asked for it still
has a role on the project it was asked in."""

from __future__ import annotations

import datetime
import hashlib
import secrets
from dataclasses import dataclass

from peewee import fn

from controller.compute.consoleauth.models import ConsoleToken
from controller.compute.records import states
from controller.compute.records.models import Instance
from controller.identity.models import Project, RoleAssignment, User
from stratus_common.errors import FailedPrecondition, Unauthenticated

# A console type as users name it -> the guest console it opens on the node.
KINDS = {"novnc": "vnc", "spice-html5": "spice", "serial": "serial"}
# spice-html5 opens one websocket per SPICE channel (main, display, inputs, cursor, ...), each
# with the page's token: it stays usable this long after its first use (ADR 0012).
SPICE_CHANNEL_GRACE = datetime.timedelta(seconds=30)


@dataclass(frozen=True)
class Grant:
    """What a redeemed token opens."""

    instance_id: str
    node_id: str
    console_type: str

    @property
    def kind(self) -> str:
        return KINDS[self.console_type]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(
    server: Instance,
    console_type: str,
    user_id: str,
    project_id: str,
    ttl: float,
    now: datetime.datetime,
) -> tuple[str, datetime.datetime]:
    """A new token for `server`'s console (the caller has checked it may see the server):
    (the token, when it expires). Expired tokens are purged on the way."""
    if server.vm_state != states.ACTIVE or not server.host or not server.node_id:
        raise FailedPrecondition(
            f"server {server.id} is not running: its console opens while it is ACTIVE",
            reason="INVALID_SERVER_STATE",
        )
    ConsoleToken.delete().where(ConsoleToken.expires_at < now).execute()
    token = secrets.token_urlsafe(32)
    expires = now + datetime.timedelta(seconds=ttl)
    ConsoleToken.create(
        token_hash=_hash(token),
        instance_id=server.id,
        host=server.host,
        console_type=console_type,
        user_id=user_id,
        project_id=project_id,
        created_at=now,
        expires_at=expires,
    )
    return token, expires


def redeem(token: str, now: datetime.datetime) -> Grant:
    """Uses `token` up (in the caller's write transaction) and says what it opens;
    Unauthenticated (reason CONSOLE_TOKEN_INVALID) when it opens nothing."""
    refused = Unauthenticated(
        "the console token is unknown, used or expired: ask for a new console URL",
        reason="CONSOLE_TOKEN_INVALID",
    )
    if not token or len(token) > 128:
        raise refused
    digest = _hash(token)
    unused = ConsoleToken.used_at.is_null() | (
        (ConsoleToken.console_type == "spice-html5")
        & (ConsoleToken.used_at > now - SPICE_CHANNEL_GRACE)
    )
    taken = (
        ConsoleToken.update(used_at=fn.COALESCE(ConsoleToken.used_at, now))
        .where((ConsoleToken.token_hash == digest) & unused & (ConsoleToken.expires_at > now))
        .execute()
    )
    if taken != 1:
        raise refused
    row = ConsoleToken.get_by_id(digest)
    server = (
        Instance.select()
        .where((Instance.id == row.instance_id) & Instance.deleted_at.is_null())
        .first()
    )
    if server is None or server.host != row.host or not server.node_id:
        raise refused  # deleted, or moved to another host since
    if not _has_access(row.user_id, row.project_id):
        raise refused
    return Grant(server.id, server.node_id, row.console_type)


def _has_access(user_id: str, project_id: str) -> bool:
    return (
        RoleAssignment.select()
        .join(User, on=(RoleAssignment.user == User.id))
        .switch(RoleAssignment)
        .join(Project, on=(RoleAssignment.project == Project.id))
        .where(
            (RoleAssignment.user == user_id)
            & (RoleAssignment.project == project_id)
            & (User.enabled == True)  # noqa: E712 (SQL, not Python)
            & (Project.enabled == True)  # noqa: E712
        )
        .exists()
    )
