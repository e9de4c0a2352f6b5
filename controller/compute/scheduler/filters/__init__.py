"""Host filters. A filter overrides `host_passes`. Two optional hooks: `applies_to` lets a filter
that only concerns some requests (a zone, a group, image requirements) be skipped for the
others, which matters when every decision visits every host; `explain` words a rejection."""

from __future__ import annotations

from typing import ClassVar


class BaseHostFilter:
    """Decides whether one host can take one request. Filters are stateless and shared."""

    name: ClassVar[str] = ""

    def host_passes(self, host_state, request_spec) -> bool:
        raise NotImplementedError

    def applies_to(self, request_spec) -> bool:
        """False when host_passes would pass every host for this request."""
        return True

    def explain(self, host_state, request_spec) -> str:
        """Why `host_state` was refused; called only for rejected hosts, so it may be slow."""
        return (self.__doc__ or self.name).strip().splitlines()[0]
