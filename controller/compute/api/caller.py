"""Who is calling, as the domain needs it: no grpc, no token, just ids and the admin bit."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    user_id: str
    project_id: str
    is_admin: bool = False
    request_id: str = ""

    @classmethod
    def of(cls, auth, request_id: str = "") -> Caller:
        """From the call pipeline's context (controller.auth.context)."""
        return cls(auth.user_id, auth.project_id or "", bool(auth.is_admin), request_id)
