"""gRPC keepalive on the node stream, both ends (docs/adr/0013).

A stream through a load balancer or a NAT can go half-open: the far end is gone but no
packet says so, and TCP alone notices only when it next has data to retransmit (minutes),
or never while a middlebox still acknowledges. With keepalive, each end sends an HTTP/2 PING
every `time` seconds and drops the transport when no answer comes within `timeout`, so a
dead path is noticed within time + timeout on both sides.
"""

from __future__ import annotations


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def client_options(time: float, timeout: float) -> list[tuple[str, int]]:
    """Channel options for the node's end."""
    return [
        ("grpc.keepalive_time_ms", _ms(time)),
        ("grpc.keepalive_timeout_ms", _ms(timeout)),
        # Any ping unanswered this long ends the transport: a keepalive that joins a ping
        # already in flight (gRPC's bandwidth probes) waits for that one, 60 s by default.
        ("grpc.http2.ping_timeout_ms", _ms(timeout)),
        ("grpc.keepalive_permit_without_calls", 1),
        # Pings go on while the stream carries no data (0: no limit), each keepalive time
        # (gRPC otherwise spaces pings without data in between by 5 minutes).
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.http2.min_time_between_pings_ms", _ms(time)),
    ]


def server_options(
    time: float, timeout: float, min_client_interval: float
) -> list[tuple[str, int]]:
    """Server options for the controller's node listener. A client pinging more often than
    `min_client_interval` is sent GOAWAY: nodes must be configured with a keepalive time at
    least this long."""
    return [
        ("grpc.keepalive_time_ms", _ms(time)),
        ("grpc.keepalive_timeout_ms", _ms(timeout)),
        ("grpc.http2.ping_timeout_ms", _ms(timeout)),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", _ms(min_client_interval)),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.http2.min_time_between_pings_ms", _ms(time)),
    ]
