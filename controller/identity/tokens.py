"""Tokens: password authentication, validation on every RPC, revocation.

Validation is on the hot path of every call, so it is a Fernet decrypt plus, at most once per
`token_cache_seconds`, three indexed queries; every revocation in this process invalidates the
cache at once (revocations.current_generation).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections import OrderedDict

from controller.auth.context import Identity
from controller.auth.token_format import TokenPayload
from controller.db.queries import by_primary_key
from controller.identity import passwords, projects, revocations, roles, users
from controller.identity.models import Project, User
from controller.logs import fields
from controller.metrics import TOKEN_CACHE
from stratus_common import errors

log = logging.getLogger(__name__)
_CACHE_HIT, _CACHE_MISS = TOKEN_CACHE.labels("hit"), TOKEN_CACHE.labels("miss")

AUTH_FAILED = "Invalid user name or password"


def _auth_failed():
    return errors.Unauthenticated(AUTH_FAILED, reason="AUTHENTICATION_FAILED")


class TokenService:
    def __init__(self, db, formatter, settings):
        self.db = db
        self.formatter = formatter
        self.settings = settings
        # token -> (identity, payload, revocation generation, key revision, cached until
        # (monotonic), the token's expiry (epoch seconds: the wall clock, as payload.expires_at))
        self._cache: OrderedDict[str, tuple[Identity, TokenPayload, int, object, float, float]] = (
            OrderedDict()
        )

    # -- issue -------------------------------------------------------------------------------
    async def issue(
        self, *, user_id=None, user_name=None, password="", project_id=None, project_name=None
    ):
        user = await self.db.run(users.find, user_id, user_name)
        stored = user.password_hash if user is not None else passwords.dummy_hash()
        ok = await asyncio.to_thread(passwords.verify_password, password, stored)
        reason = self._refusal(user, ok)
        if reason:
            log.warning(
                "authentication refused",
                extra=fields(
                    reason=reason, user=user_id or user_name, user_id=user.id if user else "-"
                ),
            )
            if user is not None and not ok:
                await self.db.run(
                    users.record_failed_login,
                    user.id,
                    self.settings.lockout_failure_attempts,
                    self.settings.lockout_duration,
                )
            raise _auth_failed()
        generation = revocations.current_generation
        identity = await self.db.run(self._scope, user, project_id, project_name)
        return self._mint(identity, generation)

    def _refusal(self, user, password_ok) -> str | None:
        if user is None:
            return "unknown user"
        if users.is_locked(user):
            return "account locked"
        if not password_ok:
            return "wrong password"
        if not user.enabled:
            return "user disabled"
        return None

    def _scope(self, user: User, project_id, project_name):
        # New tokens are made with the primary key in force, even one another replica's
        # rotation promoted a moment ago.
        self.formatter.keys.refresh()
        users.record_login(user)
        project = None
        role_names: tuple[str, ...] = ()
        if project_id or project_name:
            project = projects.find(project_id, project_name)
            role_names = roles.names_on_project(user.id, project.id) if project else ()
            if project is None or not project.enabled or not role_names:
                raise errors.PermissionDenied(
                    "The user has no role on the requested project, "
                    "or it does not exist or is disabled",
                    reason="NO_PROJECT_ACCESS",
                )
        return user, project, role_names

    def _mint(self, scoped, generation):
        user, project, role_names = scoped
        expires_at = _now() + datetime.timedelta(seconds=self.settings.token_expiration)
        token, payload = self.formatter.issue(
            user.id, project.id if project else None, ("password",), expires_at
        )
        identity = _identity(payload, user.name, project.name if project else None, role_names)
        self._remember(token, identity, payload, generation)
        return token, identity

    # -- validate ----------------------------------------------------------------------------
    async def validate(self, token: str) -> Identity:
        """The identity a token carries; raises Unauthenticated. Cached per token, while the
        key set it was validated with is still the one in force."""
        keys = self.formatter.keys
        if keys.needs_check():  # replicas share a key set: has another rotated it?
            await self.db.run(keys.refresh)
        cached = self._fresh(token)
        if cached is not None:
            _CACHE_HIT.inc()
            return cached[0]
        _CACHE_MISS.inc()
        # Taken before the load: a revocation committed while it runs leaves this entry stale.
        generation = revocations.current_generation
        payload, identity = await self.db.run(self._check, token)
        self._remember(token, identity, payload, generation)
        return identity

    def _check(self, token: str) -> tuple[TokenPayload, Identity]:
        # The key set is re-read first, so a key another replica's rotation dropped is never
        # used for a validation that is not cached yet.
        self.formatter.keys.refresh()
        payload = self.formatter.parse(token)
        return payload, _load_identity(payload)

    def _fresh(self, token: str) -> tuple[Identity, TokenPayload] | None:
        """(identity, payload) of a token validated lately, unless a revocation, a key
        rotation or time has passed since; the entry is dropped when stale."""
        cached = self._cache.get(token)
        if cached is None:
            return None
        identity, payload, generation, key_revision, until, expires = cached
        if (
            generation == revocations.current_generation
            and key_revision == self.formatter.keys.revision
            and time.monotonic() < until
            and time.time() < expires
        ):
            return identity, payload
        self._cache.pop(token, None)
        return None

    def _remember(self, token: str, identity: Identity, payload: TokenPayload, generation: int):
        self._cache[token] = (
            identity,
            payload,
            generation,
            self.formatter.keys.revision,
            time.monotonic() + self.settings.token_cache_seconds,
            payload.expires_at.timestamp(),
        )
        while len(self._cache) > self.settings.token_cache_size:
            self._cache.popitem(last=False)

    # -- revoke ------------------------------------------------------------------------------
    def subject(self, token: str) -> TokenPayload:
        """Parses a token named in a request (not the caller's own); unknown ones are NOT_FOUND.
        A token validated lately is not decrypted again."""
        cached = self._fresh(token)
        if cached is not None:
            return cached[1]
        try:
            return self.formatter.parse(token)
        except errors.Unauthenticated:
            raise errors.NotFound("The token is not valid", reason="TOKEN_NOT_FOUND") from None

    async def revoke(self, payload):
        await self.db.run(
            revocations.record,
            audit_id=payload.audit_id,
            max_token_life=self.settings.token_expiration,
        )
        self._cache.clear()


def _now():
    return datetime.datetime.now(datetime.UTC)


def _naive(moment: datetime.datetime) -> datetime.datetime:
    """Token times are aware; database columns hold naive UTC."""
    return moment.astimezone(datetime.UTC).replace(tzinfo=None)


def _identity(payload, user_name, project_name, role_names) -> Identity:
    return Identity(
        user_id=payload.user_id,
        user_name=user_name,
        project_id=payload.project_id,
        project_name=project_name,
        roles=tuple(role_names),
        methods=tuple(payload.methods),
        issued_at=payload.issued_at,
        expires_at=payload.expires_at,
        audit_id=payload.audit_id,
    )


def _invalid(why: str):
    log.info("token refused", extra=fields(why=why))
    return errors.Unauthenticated("The token is invalid or has expired", reason="TOKEN_INVALID")


def _load_identity(payload) -> Identity:
    """The checks a cached validation skips: the token's user, project, roles and revocations."""
    user = by_primary_key(User).first(id=payload.user_id)
    if user is None or not user.enabled:
        raise _invalid("user missing or disabled")
    issued_at = _naive(payload.issued_at)
    if issued_at < user.password_changed_at:
        raise _invalid("password changed since issue")
    project_name, role_names = None, ()
    if payload.project_id:
        project = by_primary_key(Project).first(id=payload.project_id)
        if project is None or not project.enabled:
            raise _invalid("project missing or disabled")
        role_names = roles.names_on_project(user.id, project.id)
        if not role_names:
            raise _invalid("no role on the project any more")
        project_name = project.name
    if revocations.is_revoked(
        audit_id=payload.audit_id,
        user_id=payload.user_id,
        project_id=payload.project_id,
        issued_at=issued_at,
    ):
        raise _invalid("revoked")
    return _identity(payload, user.name, project_name, role_names)
