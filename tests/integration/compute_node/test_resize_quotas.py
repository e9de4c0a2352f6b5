"""A resize charged to the project's cores and ram quotas, as Nova does: a bigger flavor
refused with RESOURCE_EXHAUSTED when the growth does not fit (nothing changed), a server in a
resize counted at the larger of its two flavors, and two resizes racing for the last cores."""

import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from controller.compute.records.models import Migration
from stratus.compute.v1 import compute_service_pb2 as cpb
from tests.integration.compute_node.node_support import Servers
from tests.integration.compute_node.test_node_stream import zone_of
from tests.integration.compute_node.test_resize import (
    _allocations,
    _end,
    _resize,
    resize_settings,
)
from tests.support.errors import raises


@pytest.fixture
def project(cloud):
    """A project of its own per test: its quotas are set by the test."""
    return Servers(cloud)


def _limit(project, cores, ram_mb):
    project.stub.UpdateQuotas(
        cpb.UpdateQuotasRequest(
            quotas=cpb.Quotas(
                project_id=project.tenant.project_id,
                limits=cpb.QuotaValues(cores=cores, ram_mb=ram_mb),
            ),
            update_mask={"paths": ["limits.cores", "limits.ram_mb"]},
        ),
        metadata=project.cloud.admin,
    )


def _usage(project):
    usage = project.stub.GetQuotas(cpb.GetQuotasRequest(), metadata=project.tenant.metadata).usage
    return usage.cores, usage.ram_mb


def _migrations(controller, server_id):
    return controller.app.db.call(
        lambda: Migration.select().where(Migration.instance_id == server_id).count()
    )


def _active(project, zone, image_id, flavor_id):
    server_id = project.create(flavor_id, image_id, zone)
    project.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
    return server_id


def test_a_resize_beyond_the_quota_is_refused_and_changes_nothing(
    controller, node, project, image_id
):
    small = project.flavor(vcpus=1, ram_mb=256)
    server_id = _active(project, zone_of(controller, node), image_id, small)
    _limit(project, cores=2, ram_mb=768)
    for flavor, quota in (
        (project.flavor(vcpus=3, ram_mb=256), "cores"),
        (project.flavor(vcpus=1, ram_mb=1024), "ram_mb"),
    ):
        with raises(grpc.StatusCode.RESOURCE_EXHAUSTED, "QUOTA_EXCEEDED") as info:
            _resize(project, server_id, flavor)
        assert f"quota exceeded for {quota}" in info.value.details()
    server = project.get(server_id)
    assert server.status == cpb.SERVER_STATUS_ACTIVE and server.flavor_id == small
    assert _migrations(controller, server_id) == 0
    assert _allocations(controller, server_id) == [("server", node.node_id, 256)]
    assert _usage(project) == (1, 256)
    # exactly up to the quota is fine
    with resize_settings(controller, allow_resize_to_same_host=True):
        _resize(project, server_id, project.flavor(vcpus=2, ram_mb=768))
        project.wait_status(server_id, cpb.SERVER_STATUS_VERIFY_RESIZE)
    assert _usage(project) == (2, 768)


def test_usage_follows_the_flavor_through_confirm_and_revert(controller, node, project, image_id):
    small = project.flavor(vcpus=1, ram_mb=256)
    big = project.flavor(vcpus=2, ram_mb=512)
    medium = project.flavor(vcpus=1, ram_mb=384)
    server_id = _active(project, zone_of(controller, node), image_id, small)
    _limit(project, cores=4, ram_mb=2048)

    def resize(flavor_id, verb):
        _resize(project, server_id, flavor_id)
        project.wait_status(server_id, cpb.SERVER_STATUS_VERIFY_RESIZE)
        waiting = _usage(project)
        _end(project, verb, server_id)
        project.wait_status(server_id, cpb.SERVER_STATUS_ACTIVE)
        return waiting, _usage(project)

    with resize_settings(controller, allow_resize_to_same_host=True):
        assert resize(big, "Revert") == ((2, 512), (1, 256))
        assert resize(big, "Confirm") == ((2, 512), (2, 512))
        # smaller: the old flavor still counts until the confirm
        assert resize(medium, "Confirm") == ((2, 512), (1, 384))


def test_two_resizes_that_together_exceed_the_quota_one_wins(controller, node, project, image_id):
    small = project.flavor(vcpus=1, ram_mb=256)
    big = project.flavor(vcpus=2, ram_mb=256)
    zone = zone_of(controller, node)  # a new zone at each call: one for both
    first, second = (_active(project, zone, image_id, small) for _ in range(2))
    _limit(project, cores=3, ram_mb=-1)  # room for one more core
    start = threading.Barrier(2)

    def resize(server_id):
        start.wait(timeout=30)
        try:
            return _resize(project, server_id, big).id
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # noqa: PT017 - one loses
            return None

    with resize_settings(controller, allow_resize_to_same_host=True):
        with ThreadPoolExecutor(2) as pool:
            won = [s for s in pool.map(resize, (first, second)) if s]
        assert len(won) == 1
        project.wait_status(won[0], cpb.SERVER_STATUS_VERIFY_RESIZE)
    lost = second if won[0] == first else first
    assert project.get(lost).flavor_id == small and _migrations(controller, lost) == 0
    assert _usage(project) == (3, 512)
