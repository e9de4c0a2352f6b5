"""IPAM never gives one address twice: 300 concurrent port creates on a /24 with 250 free
addresses make exactly 250 ports with 250 distinct addresses and refuse 50, naming the
subnet. On SQLite by default and on PostgreSQL and MariaDB in the integration runs
(scripts/test), and across two controller processes on one PostgreSQL (or the run's MariaDB)."""

import grpc
import pytest
from google.protobuf import field_mask_pb2

from stratus.identity.v1 import identity_service_pb2 as ipb
from stratus.network.v1 import network_service_pb2 as npb
from stratus.network.v1 import network_service_pb2_grpc as npb_grpc
from tests.integration.network.ipam_race import CREATES, FREE, race, subnet_with_free
from tests.support.errors import reason_of
from tests.support.replicas import controller_replicas


def _unlimited_ports(stub, admin_md, project_id):
    stub.UpdateNetworkQuotas(
        npb.UpdateNetworkQuotasRequest(
            quotas=npb.NetworkQuotas(
                project_id=project_id, limits=npb.NetworkQuotaValues(ports=-1)
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["limits.ports"]),
        ),
        metadata=admin_md,
    )


def _check(made, refused, subnet, taken):
    assert len(made) == FREE and len(refused) == CREATES - FREE
    addresses = [p.fixed_ips[0].ip_address for p in made]
    assert len(set(addresses)) == FREE
    assert sorted(taken) == sorted(addresses)
    for error in refused:
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error.details()
        assert reason_of(error.trailing_metadata()) == "IP_ADDRESSES_EXHAUSTED"
        assert subnet.id in error.details()


def test_concurrent_port_creates_never_share_an_address(cloud, net, controller):
    t = cloud.tenant()
    _unlimited_ports(net, cloud.admin, t.project_id)
    n = net.CreateNetwork(
        npb.CreateNetworkRequest(network=npb.Network(name="race")), metadata=t.metadata
    )
    subnet = subnet_with_free(net, t.metadata, n.id)
    made, refused = race([(net, t.metadata)], n.id)
    taken = controller.app.db.call(controller.app.network_port.taken_addresses, subnet.id)
    _check(made, refused, subnet, taken)


@pytest.mark.postgres
def test_two_controller_replicas_never_share_an_address(replica_server, tmp_path):
    with controller_replicas(replica_server, tmp_path, "ipam") as (_, clouds):
        stubs = [npb_grpc.NetworkServiceStub(c.channel) for c in clouds]
        admin = clouds[0].admin
        project = (
            clouds[0]
            .identity.ValidateToken(
                ipb.ValidateTokenRequest(token=clouds[0].admin_token), metadata=admin
            )
            .info.project_id
        )
        _unlimited_ports(stubs[0], admin, project)
        n = stubs[0].CreateNetwork(
            npb.CreateNetworkRequest(network=npb.Network(name="race")), metadata=admin
        )
        subnet = subnet_with_free(stubs[0], admin, n.id)
        made, refused = race([(stubs[0], admin), (stubs[1], clouds[1].admin)], n.id)
        listed, token = [], ""
        while True:
            page = stubs[1].ListPorts(
                npb.ListPortsRequest(network_id=n.id, page_size=1000, page_token=token),
                metadata=clouds[1].admin,
            )
            listed += page.ports
            token = page.next_page_token
            if not token:
                break
        _check(made, refused, subnet, [p.fixed_ips[0].ip_address for p in listed])
