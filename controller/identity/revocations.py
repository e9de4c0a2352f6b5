"""Token revocation events, as Keystone keeps them.

An event names an audit id, a user, a project, or a user on a project, and revokes every
matching token issued at or before `issued_before`. Every event also bumps this process's
generation, so cached validations are dropped at once; other replicas see the event when
their cache entry expires (`[identity] token_cache_seconds`).
"""
from __future__ import annotations

import datetime
import itertools

from controller.identity.models import TokenRevocation

_generation = itertools.count(1)
current_generation = 0


def bump_generation():
    """Invalidates every cached token validation in this process."""
    global current_generation
    current_generation = next(_generation)


def _utcnow():
    return datetime.datetime.utcnow()


def record(*, audit_id=None, user_id=None, project_id=None, max_token_life: int, now=None):
    now = now or _utcnow()
    TokenRevocation.create(audit_id=audit_id, user_id=user_id, project_id=project_id,
                           issued_before=now,
                           expires_at=now + datetime.timedelta(seconds=max_token_life))
    bump_generation()


def is_revoked(*, audit_id: str, user_id: str, project_id: str | None, issued_at) -> bool:
    R = TokenRevocation
    by_user = (R.user_id == user_id) & ((R.project_id.is_null()) | (R.project_id == (project_id or "")))
    match = (R.audit_id == audit_id) | by_user
    if project_id:
        match |= (R.project_id == project_id) & R.user_id.is_null()
    return R.select(R.id).where(match & (R.issued_before >= issued_at)).exists()


def purge_expired(now=None) -> int:
    return TokenRevocation.delete().where(TokenRevocation.expires_at < (now or _utcnow())).execute()
