"""Guests running before their host went down are started again: Nova's
`resume_guests_state_on_host_boot`, the node option `[compute]
resume_guests_state_on_host_boot` (off by default, as in Nova; on in the all-in-one).

When a host or its libvirt daemon restarts, a guest's domain stays defined but is shut off,
and the controller would then record the server as stopped. Nova decides from its database
which guests to boot again; a Stratus node never reads the database, so it keeps its own
record: the managed guests that are running, in `<state_dir>/running-guests.json`, written
every RECORD_INTERVAL seconds and when the agent stops. At its next start, before its hello,
the agent starts every guest of that record that is now shut off or crashed, so the
controller finds it running. A guest stopped through the API leaves the record at the next
write; one stopped less than RECORD_INTERVAL before its host went down comes back.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from compute_node.drivers.base import ComputeDriver, DriverError, InstanceInfo, PowerState

LOG = logging.getLogger(__name__)
RECORD_INTERVAL = 10.0
_RESUMABLE = (PowerState.SHUTOFF, PowerState.CRASHED)


class RunningGuests:
    """The record of which managed guests run (a JSON list of instance uuids)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._written: list[str] | None = None

    def load(self) -> set[str]:
        try:
            return set(json.loads(self.path.read_text()))
        except FileNotFoundError:
            return set()
        except (ValueError, TypeError):
            LOG.warning("%s is not a list of instances; ignored", self.path)
            return set()

    def record(self, instances: Iterable[InstanceInfo]) -> None:
        running = sorted(
            i.uuid for i in instances if i.managed and i.power_state is PowerState.RUNNING
        )
        if running == self._written:
            return
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".running-guests-")
        with os.fdopen(fd, "w") as f:
            json.dump(running, f)
        os.replace(tmp, self.path)
        self._written = running


def resume_guests(driver: ComputeDriver, record: RunningGuests) -> list[str]:
    """Start the guests the record says were running and that are shut off or crashed now;
    the uuids started. A guest that fails to start is logged and left as it is."""
    wanted = record.load()
    started = []
    for uuid, info in driver.list_instances().items():
        if uuid not in wanted or info.power_state not in _RESUMABLE:
            continue
        try:
            driver.start(uuid)
        except DriverError as exc:
            LOG.warning("could not start guest %s again: %s", uuid, exc)
            continue
        started.append(uuid)
    return started
