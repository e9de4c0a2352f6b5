"""Whether a compute host is up, the one rule the conductor and the scheduler both apply to
a `compute_node` row (Nova's service liveness)."""

from __future__ import annotations

import datetime


def is_up(
    heartbeat_at: datetime.datetime | None,
    forced_down: bool,
    now: datetime.datetime,
    service_down_time: float,
) -> bool:
    """Up when the last heartbeat is within `service_down_time` of `now` and no operator
    forced the host down."""
    if heartbeat_at is None or forced_down:
        return False
    return (now - heartbeat_at).total_seconds() <= service_down_time
