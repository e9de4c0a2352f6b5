"""Who is signed in: the token and what it carries live in the server-side session (the
browser's cookie holds only the session's id). A session ends with its token."""

from __future__ import annotations

import dataclasses
import time

from starlette.requests import Request
from starsessions import regenerate_session_id

from dashboard.api import bearer
from stratus.identity.v1 import identity_service_pb2 as ipb


class LoginRequired(Exception):
    """No session, or its token has expired: the user signs in again."""


class AdminRequired(Exception):
    """An admin page asked for by someone without the admin role."""


@dataclasses.dataclass(frozen=True)
class User:
    token: str
    user_id: str
    user_name: str
    project_id: str
    project_name: str
    roles: tuple[str, ...]
    expires: float  # epoch seconds: the token's expire_time

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return bearer(self.token)


def sign_in(request: Request, token: str, info: ipb.TokenInfo) -> None:
    """Starts a fresh session (a new id, so an id planted before sign-in is worthless)."""
    language = request.session.get("language")
    request.session.clear()
    regenerate_session_id(request)
    request.session.update(
        token=token,
        user_id=info.user_id,
        user_name=info.user_name,
        project_id=info.project_id,
        project_name=info.project_name,
        roles=list(info.roles),
        expires=info.expire_time.ToSeconds(),
    )
    if language:
        request.session["language"] = language


def sign_out(request: Request) -> None:
    language = request.session.get("language")
    request.session.clear()
    if language:
        request.session["language"] = language


def current_user(request: Request) -> User | None:
    session = request.session
    if "token" not in session:
        return None
    if session["expires"] <= time.time():
        sign_out(request)
        return None
    return User(
        token=session["token"],
        user_id=session["user_id"],
        user_name=session["user_name"],
        project_id=session["project_id"],
        project_name=session["project_name"],
        roles=tuple(session["roles"]),
        expires=session["expires"],
    )


def require_user(request: Request) -> User:
    user = current_user(request)
    if user is None:
        raise LoginRequired
    return user


def require_admin(request: Request) -> User:
    user = require_user(request)
    if not user.is_admin:
        raise AdminRequired
    return user
