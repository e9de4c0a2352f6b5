"""The IPAM race of the tests: many concurrent port creates on one subnet with fewer free
addresses than creates, through any number of controllers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import grpc

from stratus.network.v1 import network_service_pb2 as npb
from stratus.network.v1 import network_service_pb2_grpc as npb_grpc

CREATES, FREE = 300, 250


def race(callers: list[tuple[npb_grpc.NetworkServiceStub, tuple]], network_id: str):
    """Runs CREATES port creates spread over `callers` (a stub and its call metadata each);
    returns (the ports made, the errors of the others)."""

    def create(i):
        stub, md = callers[i % len(callers)]
        try:
            return stub.CreatePort(
                npb.CreatePortRequest(port=npb.Port(network_id=network_id, name=f"p{i}")),
                metadata=md,
                timeout=300,
            )
        except grpc.RpcError as error:
            return error

    with ThreadPoolExecutor(64) as pool:
        results = list(pool.map(create, range(CREATES)))
    made = [r for r in results if isinstance(r, npb.Port)]
    refused = [r for r in results if not isinstance(r, npb.Port)]
    return made, refused


def subnet_with_free(stub, md, network_id: str) -> npb.Subnet:
    """A /24 whose pool holds exactly FREE addresses (.2-.251)."""
    return stub.CreateSubnet(
        npb.CreateSubnetRequest(
            subnet=npb.Subnet(
                network_id=network_id,
                cidr="10.200.0.0/24",
                allocation_pools=[npb.AllocationPool(start="10.200.0.2", end="10.200.0.251")],
            )
        ),
        metadata=md,
    )
