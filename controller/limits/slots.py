"""Slots for calls that hold the controller's resources for long: open streams and image
transfers, counted per user and in all, in this process. A call beyond a limit is refused at
once with RESOURCE_EXHAUSTED and a reason naming the limit, so one member cannot take what
every other caller needs (each stream holds a queue, each transfer a worker thread and its
buffers)."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from controller import memory
from controller.limits.config import LimitsSection
from stratus_common.errors import ResourceExhausted


@dataclass(frozen=True)
class Kind:
    name: str  # "stream" or "transfer": the reasons' word
    what: str  # for people
    per_user: int
    total: int


class Pool:
    """The slots of one kind."""

    def __init__(self, kind: Kind, released: Callable[[], None] = lambda: None):
        self.kind = kind
        self.released = released  # after a slot is given back
        self.by_user: Counter[str] = Counter()
        self.held = 0

    @contextlib.contextmanager
    def hold(self, user_id: str) -> Iterator[None]:
        kind = self.kind
        if self.by_user[user_id] >= kind.per_user:
            raise ResourceExhausted(
                f"you have {kind.per_user} {kind.what} open already, the most one user may "
                "have; end one first",
                reason=f"{kind.name.upper()}_LIMIT_PER_USER",
                limit=kind.per_user,
            )
        if self.held >= kind.total:
            raise ResourceExhausted(
                f"the controller has {kind.total} {kind.what} open, as many as it takes; "
                "retry later",
                reason=f"{kind.name.upper()}_LIMIT",
                limit=kind.total,
            )
        self.by_user[user_id] += 1
        self.held += 1
        try:
            yield
        finally:
            self.held -= 1
            self.by_user[user_id] -= 1
            if not self.by_user[user_id]:
                del self.by_user[user_id]
            self.released()


class Slots:
    """The pools of one controller process (the event loop's only: not thread-safe)."""

    def __init__(self, settings: LimitsSection):
        self.streams = Pool(
            Kind("stream", "streams", settings.max_streams_per_user, settings.max_streams)
        )
        # What a transfer's threads freed goes back to the system when it ends.
        self.transfers = Pool(
            Kind(
                "transfer",
                "image transfers",
                settings.max_transfers_per_user,
                settings.max_transfers,
            ),
            memory.trim,
        )
