"""Token revocation events, as Keystone keeps them.

An event names an audit id, a user, a project, or a user on a project, and revokes every
matching token issued at or before `issued_before`. Every event also bumps this process's
generation, so cached validations are dropped at once; other replicas see the event when
their cache entry expires (`[identity] token_cache_seconds`).
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
import logging

from controller.db.prepared import Param, Prepared
from controller.identity.models import TokenRevocation
from controller.logs import fields

log = logging.getLogger(__name__)

_generation = itertools.count(1)
current_generation = 0


def bump_generation():
    """Invalidates every cached token validation in this process."""
    global current_generation  # noqa: PLW0603 - the process-wide cache key
    current_generation = next(_generation)


def _utcnow():
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def record(*, audit_id=None, user_id=None, project_id=None, max_token_life: int, now=None):
    now = now or _utcnow()
    TokenRevocation.create(
        audit_id=audit_id,
        user_id=user_id,
        project_id=project_id,
        issued_before=now,
        expires_at=now + datetime.timedelta(seconds=max_token_life),
    )
    bump_generation()


def _revoking_events():
    R = TokenRevocation
    # An unscoped token binds project_id "": it matches no event, as no event stores "".
    by_user = (R.user_id == Param("user_id")) & (
        R.project_id.is_null() | (R.project_id == Param("project_id"))
    )
    by_project = (R.project_id == Param("project_id")) & R.user_id.is_null()
    match = (R.audit_id == Param("audit_id")) | by_user | by_project
    return R.select(R.id).where(match & (R.issued_before >= Param("issued_at"))).limit(1).tuples()


_REVOKING = Prepared(_revoking_events)


def is_revoked(*, audit_id: str, user_id: str, project_id: str | None, issued_at) -> bool:
    """Whether an event revokes the token (prepared: every validation cache miss runs it)."""
    return bool(
        _REVOKING.rows(
            audit_id=audit_id, user_id=user_id, project_id=project_id or "", issued_at=issued_at
        )
    )


def purge_expired(now=None) -> int:
    """Drops the events every matching token of which has expired; returns how many."""
    return TokenRevocation.delete().where(TokenRevocation.expires_at < (now or _utcnow())).execute()


async def purge_forever(db, every: float):
    """The controller's background job: purge at start, then every `every` seconds, so the table
    the validation path reads stays as small as the tokens still alive."""
    while True:
        try:
            dropped = await db.run(purge_expired)
            if dropped:
                log.info("purged expired token revocations", extra=fields(count=dropped))
        except Exception:  # a failed purge is retried next time, never fatal
            log.exception("purging expired token revocations failed")
        await asyncio.sleep(every)
