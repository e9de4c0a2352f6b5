"""Who is calling: the identity a valid token carries, and the policy check bound to it."""

from __future__ import annotations

import contextvars
import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Identity:
    """What a validated token says about its bearer. Cached; never mutated."""

    user_id: str
    user_name: str
    project_id: str | None
    project_name: str | None
    roles: tuple[str, ...]
    methods: tuple[str, ...]
    issued_at: datetime.datetime
    expires_at: datetime.datetime
    audit_id: str
    creds: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(
            self,
            "creds",
            {
                "user_id": self.user_id,
                "project_id": self.project_id or "",
                "roles": list(self.roles),
                "is_admin": "admin" in self.roles,
            },
        )

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


class CallAuth:
    """The caller of one RPC: its identity plus `authorize`, which records that policy ran."""

    __slots__ = ("_enforcer", "authorized", "granted", "identity")

    def __init__(self, identity: Identity | None, enforcer):
        self.identity = identity
        self._enforcer = enforcer
        self.authorized = False
        # (rule, target) of every check passed, so a long call can be checked again
        self.granted: list[tuple[str, Mapping[str, Any]]] = []

    def authorize(self, rule: str, target: Mapping[str, Any] | None = None) -> None:
        """Raises PermissionDenied unless policy allows `rule` for this caller on `target`."""
        if target is None:
            target = self.default_target()
        self._enforcer.authorize(rule, target, self.identity.creds if self.identity else {})
        self.authorized = True
        if (rule, target) not in self.granted:
            self.granted.append((rule, target))

    def reauthorize(self, identity: Identity) -> None:
        """The same caller as `identity` says it is now: raises PermissionDenied unless every
        check passed so far still passes."""
        self.identity = identity
        for rule, target in self.granted:
            self._enforcer.authorize(rule, target, identity.creds)

    def allows(self, rule: str, target: Mapping[str, Any] | None = None) -> bool:
        return self._enforcer.enforce(
            rule,
            target if target is not None else self.default_target(),
            self.identity.creds if self.identity else {},
        )

    def default_target(self) -> dict:
        ident = self.identity
        return {"user_id": ident.user_id, "project_id": ident.project_id or ""} if ident else {}

    @property
    def user_id(self):
        return self.identity.user_id

    @property
    def project_id(self):
        return self.identity.project_id

    @property
    def is_admin(self):
        return bool(self.identity and self.identity.is_admin)


current: contextvars.ContextVar[CallAuth] = contextvars.ContextVar("call_auth")
