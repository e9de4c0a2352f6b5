"""Who the session says is signed in: nobody once the token's expiry has passed."""

from __future__ import annotations

import time
from types import SimpleNamespace

from dashboard.auth import current_user


def request_with(session: dict):
    return SimpleNamespace(session=session)


def signed_in(expires: float) -> dict:
    return {
        "token": "gAAAA-token",
        "user_id": "u1",
        "user_name": "alice",
        "project_id": "p1",
        "project_name": "demo",
        "roles": ["member"],
        "expires": expires,
        "language": "zh_CN",
    }


def test_a_live_token_is_the_user():
    user = current_user(request_with(signed_in(time.time() + 600)))
    assert user is not None
    assert (user.user_name, user.project_name, user.is_admin) == ("alice", "demo", False)
    assert user.metadata == (("authorization", "Bearer gAAAA-token"),)


def test_the_session_ends_with_its_token():
    session = signed_in(time.time() - 1)
    assert current_user(request_with(session)) is None
    # The token is gone from the server-side session; the chosen language stays.
    assert session == {"language": "zh_CN"}


def test_no_token_is_nobody():
    assert current_user(request_with({})) is None
