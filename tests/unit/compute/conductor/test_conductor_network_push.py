"""A node session sends its NetworkState after the Welcome, then only when the network
counter moved and the node's wiring changed."""

from controller.compute.conductor.network_push import NetworkPush
from controller.network.models import Network
from controller.network.node_state import NetworkWiring, NodeState


class FakeNetwork:
    """The network port's two reads, as plain values: a counter and a state per revision."""

    def __init__(self):
        self.counter = 1
        self.mtu = 1450

    def revision(self):
        return self.counter

    def node_state(self, node_id):
        network = Network(
            id="n1",
            network_type="vxlan",
            physical_network="",
            segmentation_id=7,
            mtu=self.mtu,
            admin_state_up=True,
        )
        return NodeState(self.counter, networks=[NetworkWiring(network, [], [])])


def test_sent_first_then_only_on_a_change_of_wiring():
    network = FakeNetwork()
    push = NetworkPush(network, "node-1")
    first = push.due()
    assert first is not None and first.network_state.revision == 1
    assert push.due() is None  # nothing moved
    network.counter = 2  # the counter moved, the wiring did not
    assert push.due() is None
    network.counter, network.mtu = 3, 1400
    changed = push.due()
    assert changed.network_state.revision == 3
    assert changed.network_state.networks[0].mtu == 1400
