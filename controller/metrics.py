"""The controller's Prometheus metrics: each one defined here, once, so README's table has one
source; the areas import what they record. Values that live in the database (the outbox,
nodes up and down) are read when scraped (controller/compute/conductor/gauges.py), not kept.

Metrics are per process, as Prometheus counts them: each controller replica is its own target.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Latency buckets from a cached token check (~1 ms) to a slow stream (minutes).
_CALL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 300)

RPC_DURATION = Histogram(
    "stratus_rpc_duration_seconds",
    "Calls on both listeners by method and final status code, and how long each took "
    "(streams: until they ended)",
    ["method", "code"],
    buckets=_CALL_BUCKETS,
)
SCHEDULER_DECISIONS = Counter(
    "stratus_scheduler_decisions_total",
    "Placement decisions by result: placed, no_valid_host, lost_race (a claim another "
    "decision won; the server is placed again)",
    ["result"],
)
SCHEDULER_DECISION_DURATION = Histogram(
    "stratus_scheduler_decision_duration_seconds",
    "From a placement's host selection to its claim's commit",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
NODE_STREAMS = Gauge(
    "stratus_node_streams_open", "Node streams (NodeService/Connect) this controller holds"
)
TOKEN_CACHE = Counter(
    "stratus_token_cache_lookups_total",
    "Token validations by result: hit (answered from the cache) or miss (read the database)",
    ["result"],
)
IMAGE_BYTES = Counter(
    "stratus_image_bytes_total",
    "Image data through the controller: upload (into the store), download (to API clients), "
    "node_fetch (to compute nodes)",
    ["direction"],
)
