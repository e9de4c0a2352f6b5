"""Gauges read from the database when Prometheus scrapes: the outbox (commands waiting, the age
of the oldest) and compute nodes up and down, by the liveness rule the API and the scheduler
apply. Read on demand, so nothing is kept in step on the hot paths; a scrape costs two
aggregate queries, in the endpoint's own thread.
"""

from __future__ import annotations

import logging

import peewee
from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector

from controller.compute.conductor import nodes, outbox
from controller.compute.conductor.models import NodeCommand
from controller.compute.records.models import ComputeNode
from controller.db.queries import utcnow
from controller.metrics import NODE_STREAMS

log = logging.getLogger(__name__)


class ConductorGauges(Collector):
    def __init__(self) -> None:
        self.conductor = None  # the process's conductor, once the compute area is set up

    def collect(self):
        conductor = self.conductor
        if conductor is None:
            return
        try:
            commands, oldest, up_down = conductor.db.call(_read, conductor.service_down_time)
        except Exception:  # a scrape while the database is away: leave these gauges out
            log.warning("metrics: could not read the outbox and nodes", exc_info=True)
            return
        depth = GaugeMetricFamily(
            "stratus_outbox_commands",
            "Node commands not finished yet, by state: pending (not sent, or to be sent again) "
            "and delivered (sent, no result yet)",
            labels=["state"],
        )
        for state in outbox.LIVE:
            depth.add_metric([state], commands.get(state, 0))
        yield depth
        yield GaugeMetricFamily(
            "stratus_outbox_oldest_command_age_seconds",
            "Age of the oldest node command not finished yet (0 when there is none)",
            value=oldest,
        )
        hosts = GaugeMetricFamily(
            "stratus_compute_nodes",
            "Compute nodes by status: up (a heartbeat within service_down_time) or down",
            labels=["status"],
        )
        for status in ("up", "down"):
            hosts.add_metric([status], up_down[status])
        yield hosts


def _read(service_down_time: float) -> tuple[dict[str, int], float, dict[str, int]]:
    now = utcnow()
    count, first = peewee.fn.COUNT(NodeCommand.seq), peewee.fn.MIN(NodeCommand.created_at)
    live = (
        NodeCommand.select(NodeCommand.state, count, first)
        .where(NodeCommand.state.in_(outbox.LIVE))
        .group_by(NodeCommand.state)
        .tuples()
    )
    commands, oldest = {}, 0.0
    for state, number, created in live:
        commands[state] = number
        # SQLite hands an aggregate back as text: the column's own conversion reads it.
        since = NodeCommand.created_at.python_value(created)
        oldest = max(oldest, (now - since).total_seconds())
    up_down = {"up": 0, "down": 0}
    for row in ComputeNode.select(ComputeNode.heartbeat_at, ComputeNode.forced_down):
        up_down["up" if nodes.is_up(row, now, service_down_time) else "down"] += 1
    return commands, oldest, up_down


GAUGES = ConductorGauges()
REGISTRY.register(GAUGES)


def watch(conductor) -> None:
    """Reports on `conductor` (the last one set up: one a process, outside tests)."""
    GAUGES.conductor = conductor
    NODE_STREAMS.set_function(lambda: len(conductor.open_sessions))
