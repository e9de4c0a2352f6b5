"""The node agent's Prometheus metrics: its stream to the controller, image bytes fetched, and
guests by power state (read from the hypervisor when scraped, so it is never stale)."""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge
from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector

from compute_node.drivers.base import ComputeDriver, PowerState

log = logging.getLogger(__name__)

STREAM_CONNECTED = Gauge(
    "stratus_node_stream_connected", "1 while the stream to the controller is open and welcomed"
)
STREAM_SESSIONS = Gauge(
    "stratus_node_stream_sessions", "Streams the controller welcomed since the agent started"
)
IMAGE_BYTES_FETCHED = Counter(
    "stratus_node_image_bytes_fetched_total", "Image data received from the controller"
)


class Guests(Collector):
    def __init__(self) -> None:
        self.driver: ComputeDriver | None = None

    def collect(self):
        if self.driver is None:
            return
        try:
            instances = self.driver.list_instances()
        except Exception:  # the hypervisor did not answer: leave the gauge out
            log.warning("metrics: could not list the guests", exc_info=True)
            return
        counts = dict.fromkeys(PowerState, 0)
        for info in instances.values():
            counts[info.power_state] += 1
        family = GaugeMetricFamily(
            "stratus_node_guests",
            "Guests on this host by power state, as the hypervisor reports them",
            labels=["state"],
        )
        for state, count in counts.items():
            family.add_metric([state.value.lower()], count)
        yield family


GUESTS = Guests()
REGISTRY.register(GUESTS)


def watch(agent, driver: ComputeDriver) -> None:
    """Reports on this process's agent and hypervisor driver."""
    GUESTS.driver = driver
    STREAM_CONNECTED.set_function(lambda: 1 if agent.connected.is_set() else 0)
    STREAM_SESSIONS.set_function(lambda: agent.sessions)
