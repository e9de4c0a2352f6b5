"""Creates recorded together (creates.create_batch, as the servicer's Batcher hands them over):
quotas, request ids and group quotas hold inside one batch, and each created server gets its
row, its create action and that action's first step, written per table for the batch."""

import pytest

from controller.compute.api import creates, servers
from controller.compute.api.caller import Caller
from controller.compute.api.quota_rules import DEFAULT_LIMITS
from controller.compute.api.quotas import Quotas
from controller.compute.records.models import (
    Instance,
    InstanceAction,
    InstanceActionEvent,
    ServerGroupMember,
)
from stratus.compute.v1 import compute_service_pb2 as pb
from stratus_common import errors
from tests.integration.compute.compute_support import add_hosts


@pytest.fixture(scope="module")
def zone(db):
    """The servers these tests record are never handed to the BuildQueue: in a zone of their
    own, the conductor's sweep that later places them touches no other test's hosts."""
    return add_hosts(db, 1, vcpus=64)[0]


@pytest.fixture
def batch(db, image_lookup):
    quotas = Quotas(db, DEFAULT_LIMITS, servers.count_for_quota)

    def run(items):
        return db.call(creates.create_batch, db, quotas, lambda *_: True, image_lookup, items)

    return run


def _limit(compute, cloud, project_id, **limits):
    compute.stub.UpdateQuotas(
        pb.UpdateQuotasRequest(
            quotas=pb.Quotas(project_id=project_id, limits=pb.QuotaValues(**limits)),
            update_mask={"paths": [f"limits.{name}" for name in limits]},
        ),
        metadata=cloud.admin,
    )


def _item(tenant, flavor, image, name="s", request_id="", group_id="", zone=""):
    caller = Caller(tenant.user_id, tenant.project_id, request_id="req-" + name)
    return (
        caller,
        servers.ServerRequest(
            name=name,
            flavor_id=flavor.id,
            image_id=image,
            availability_zone=zone,
            server_group_id=group_id,
        ),
        request_id,
    )


def _rows(db, project_id):
    return db.call(lambda: list(Instance.select().where(Instance.project_id == project_id)))


def test_a_batch_takes_the_quota_left_and_refuses_the_rest(compute, cloud, db, batch, zone):
    t = cloud.tenant()
    _limit(compute, cloud, t.project_id, instances=3)
    flavor, image = compute.flavor(vcpus=1), compute.image()
    results = batch([_item(t, flavor, image, name=f"s{i}", zone=zone) for i in range(5)])
    created = [r[0] for r in results[:3]]
    assert all(r[1] is True for r in results[:3])
    for refused in results[3:]:
        assert isinstance(refused, errors.ResourceExhausted)
        assert refused.metadata["quota"] == "instances"
    assert {r.id for r in _rows(db, t.project_id)} == {r.id for r in created}
    # revisions are distinct, in batch order
    assert [r.revision for r in created] == sorted({r.revision for r in created})
    # one create action per server, from its own request, with its "schedule" step open
    actions = db.call(
        lambda: list(
            InstanceAction.select().where(InstanceAction.instance_id.in_([r.id for r in created]))
        )
    )
    assert sorted((a.instance_id, a.action, a.request_id) for a in actions) == sorted(
        (r.id, "create", "req-" + r.name) for r in created
    )
    events = db.call(
        lambda: list(
            InstanceActionEvent.select().where(
                InstanceActionEvent.action_id.in_([a.id for a in actions])
            )
        )
    )
    assert sorted(e.action_id for e in events) == sorted(a.id for a in actions)
    assert {(e.event, e.result, e.finish_time) for e in events} == {
        ("schedule", "in_progress", None)
    }


def test_a_request_id_twice_in_a_batch_gives_one_server(compute, cloud, db, batch, zone):
    t = cloud.tenant()
    compute.unlimited(t.project_id)
    flavor, image = compute.flavor(), compute.image()
    rid = "5d1c2f0e-2b8a-4c57-9a43-0e8a7c1f9b21"
    first, again, other = batch(
        [
            _item(t, flavor, image, name="a", request_id=rid, zone=zone),
            _item(t, flavor, image, name="a", request_id=rid, zone=zone),
            _item(t, flavor, image, name="b", request_id=rid, zone=zone),
        ]
    )
    assert first[1] is True and again == (first[0], False)
    assert isinstance(other, errors.AlreadyExists)
    assert [r.id for r in _rows(db, t.project_id)] == [first[0].id]
    # a later batch finds it in the database
    later = batch([_item(t, flavor, image, name="a", request_id=rid, zone=zone)])
    assert later[0][0].id == first[0].id and later[0][1] is False


def test_group_member_quota_holds_within_a_batch(compute, cloud, db, batch, zone):
    t = cloud.tenant()
    _limit(compute, cloud, t.project_id, server_group_members=2)
    group = compute.stub.CreateServerGroup(
        pb.CreateServerGroupRequest(
            server_group=pb.ServerGroup(name="g", policy=pb.SERVER_GROUP_POLICY_SOFT_AFFINITY)
        ),
        metadata=t.metadata,
    )
    flavor, image = compute.flavor(), compute.image()
    results = batch(
        [_item(t, flavor, image, name=f"m{i}", group_id=group.id, zone=zone) for i in range(3)]
    )
    assert [type(r) for r in results] == [tuple, tuple, errors.ResourceExhausted]
    members = db.call(
        lambda: {
            m.instance_id
            for m in ServerGroupMember.select().where(ServerGroupMember.group_id == group.id)
        }
    )
    assert members == {results[0][0].id, results[1][0].id}


def test_bad_references_fail_only_their_own_item(compute, cloud, db, batch, zone):
    t = cloud.tenant()
    compute.unlimited(t.project_id)
    flavor, image = compute.flavor(), compute.image()
    missing = "00000000-0000-4000-8000-000000000000"
    good, no_image, good_again = batch(
        [
            _item(t, flavor, image, name="ok", zone=zone),
            _item(t, flavor, missing, name="x", zone=zone),
            _item(t, flavor, image, name="ok2", zone=zone),
        ]
    )
    assert isinstance(no_image, errors.NotFound)
    assert good[1] is True and good_again[1] is True
    assert {r.name for r in _rows(db, t.project_id)} == {"ok", "ok2"}
