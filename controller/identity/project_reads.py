"""GetProject without a database round trip per call.

An authenticated read of a project is the most frequent identity call after validation; the
row changes rarely. Answers are kept per project id, dropped after any project update or
delete in this process, and kept at most `ttl` seconds so that writes made through another
controller replica show up (the same bound as the token cache and the catalog). A project
not found is not kept: one created elsewhere is seen at once.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from controller.identity import convert, projects
from stratus.identity.v1 import identity_service_pb2 as pb


class ProjectReads:
    def __init__(self, db, ttl: float, size: int):
        self.db = db
        self.ttl = ttl
        self.size = size
        self._kept: OrderedDict[str, tuple[pb.Project, int, float]] = OrderedDict()

    async def get(self, project_id: str) -> pb.Project:
        """The project as the API shows it; raises NotFound."""
        kept = self._kept.get(project_id)
        if kept is not None:
            message, generation, until = kept
            if generation == projects.generation and time.monotonic() < until:
                return message
            del self._kept[project_id]
        seen = projects.generation  # before the read: a write racing it leaves this stale
        message = convert.project(await self.db.run(projects.get, project_id))
        if self.ttl > 0:
            self._kept[project_id] = (message, seen, time.monotonic() + self.ttl)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return message
