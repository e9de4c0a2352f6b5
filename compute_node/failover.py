"""The controller replicas a node may stream to, in the operator's order of preference.

The first stream goes to the first address; each later stream (after the previous one
failed or ended) goes to the next, round the list, with the agent's jittered back-off between
attempts. So when the replica holding a node's stream dies, the node moves to a live one,
and nodes given the list in different orders spread over the replicas. Any replica may hold
any node's stream: they share the database, the outbox and the CA.
"""

from __future__ import annotations

from collections.abc import Sequence


class ControllerAddresses:
    def __init__(self, addresses: Sequence[str]):
        if not addresses:
            raise ValueError("no controller address: set [compute] controller or controllers")
        self._addresses = list(addresses)
        self._next = 0
        self.current = self._addresses[0]

    def for_new_stream(self) -> str:
        """The address the next stream opens to (and the current one from now on)."""
        self.current = self._addresses[self._next % len(self._addresses)]
        self._next += 1
        return self.current
