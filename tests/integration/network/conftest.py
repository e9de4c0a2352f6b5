import grpc
import pytest

from stratus.network.v1 import network_service_pb2 as npb
from stratus.network.v1 import network_service_pb2_grpc as npb_grpc


@pytest.fixture(scope="session")
def net(cloud):
    """The NetworkService stub of the session's controller."""
    return npb_grpc.NetworkServiceStub(cloud.channel)


class Networks:
    """Small helpers that make a tenant's network and subnet in one call."""

    def __init__(self, stub, cloud):
        self.stub = stub
        self.cloud = cloud

    def network(self, md, name="net", **fields):
        return self.stub.CreateNetwork(
            npb.CreateNetworkRequest(network=npb.Network(name=name, **fields)), metadata=md
        )

    def subnet(self, md, network_id, cidr="10.0.0.0/24", **fields):
        return self.stub.CreateSubnet(
            npb.CreateSubnetRequest(
                subnet=npb.Subnet(network_id=network_id, cidr=cidr, name="sub", **fields)
            ),
            metadata=md,
        )

    def port(self, md, network_id, **fields):
        return self.stub.CreatePort(
            npb.CreatePortRequest(port=npb.Port(network_id=network_id, **fields)), metadata=md
        )

    def ports(self, md, **filters) -> list:
        found, token = [], ""
        while True:
            page = self.stub.ListPorts(
                npb.ListPortsRequest(page_token=token, page_size=500, **filters), metadata=md
            )
            found += page.ports
            token = page.next_page_token
            if not token:
                return found


@pytest.fixture(scope="session")
def networks(net, cloud):
    return Networks(net, cloud)


def code_of(call) -> grpc.StatusCode | None:
    try:
        call()
    except grpc.RpcError as error:
        return error.code()
    return None
