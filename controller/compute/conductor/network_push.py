"""A node session's network wiring: the whole NetworkState after the Welcome, then again
whenever the network area's change counter moved and what this node must wire changed (the
session's delivery loop asks every time it wakes: on a local change at once, on another
replica's within its poll interval)."""

from __future__ import annotations

from controller.network import node_wire
from controller.network.port import NetworkPort
from stratus.node.v1 import node_service_pb2 as pb


class NetworkPush:
    def __init__(self, network: NetworkPort, node_id: str):
        self.network = network
        self.node_id = node_id
        self.seen_revision = -1
        self.sent: pb.NetworkState | None = None

    def due(self) -> pb.ConnectResponse | None:
        """The state to send now, if any (runs in a database worker thread)."""
        if self.network.revision() == self.seen_revision:
            return None
        state = node_wire.network_state(self.network.node_state(self.node_id))
        self.seen_revision = state.revision
        if node_wire.same_wiring(self.sent, state):
            return None
        self.sent = state
        return pb.ConnectResponse(network_state=state)
