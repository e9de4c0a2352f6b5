"""Host filters. A filter overrides `host_passes`; `explain` only words a rejection for logs."""
from __future__ import annotations

from typing import ClassVar


class BaseHostFilter:
    """Decides whether one host can take one request. Filters are stateless and shared."""

    name: ClassVar[str] = ""

    def host_passes(self, host_state, request_spec) -> bool:
        raise NotImplementedError

    def explain(self, host_state, request_spec) -> str:
        """Why `host_state` was refused; called only for rejected hosts, so it may be slow."""
        return (self.__doc__ or self.name).strip().splitlines()[0]
