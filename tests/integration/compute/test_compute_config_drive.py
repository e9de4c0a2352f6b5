"""A server's config drive and user data through the real controller: on unless asked off,
recorded and shown; user data up to Nova's limit (65,535 bytes once base64-encoded)."""

import base64

import grpc
import pytest

from controller.compute.records.models import Instance
from tests.integration.compute.compute_support import add_hosts
from tests.support.errors import raises

LARGEST_USER_DATA = 49149  # base64: 65,532 bytes; one byte more makes 65,536


@pytest.fixture(scope="module")
def env(compute, cloud, db):
    zone, _hosts = add_hosts(db, 1)
    tenant = cloud.tenant()
    compute.unlimited(tenant.project_id)
    return dict(zone=zone, tenant=tenant, flavor=compute.flavor(), image=compute.image())


def _row(db, server_id):
    return db.call(lambda: Instance.get_by_id(server_id))


def _rows(db, project_id):
    return db.call(lambda: Instance.select().where(Instance.project_id == project_id).count())


@pytest.mark.parametrize(
    "asked,expected", [(None, True), (True, True), (False, False)], ids=["unset", "true", "false"]
)
def test_config_drive_is_on_unless_asked_off_and_is_recorded(compute, env, db, asked, expected):
    extra = {} if asked is None else {"config_drive": asked}
    created = compute.create(env["tenant"], env["flavor"].id, env["image"], env["zone"], **extra)
    assert created.HasField("config_drive") and created.config_drive is expected
    assert compute.get(env["tenant"], created.id).config_drive is expected
    assert _row(db, created.id).config_drive is expected


def test_user_data_at_nova_s_limit_is_kept_whole(compute, env, db):
    user_data = bytes(range(256)) * (LARGEST_USER_DATA // 256) + b"x" * (LARGEST_USER_DATA % 256)
    assert len(base64.b64encode(user_data)) <= 65535 < len(base64.b64encode(user_data + b"x"))
    created = compute.create(
        env["tenant"], env["flavor"].id, env["image"], env["zone"], user_data=user_data
    )
    assert bytes(_row(db, created.id).user_data) == user_data


def test_user_data_one_byte_over_the_limit_is_refused_and_nothing_is_created(compute, env, db):
    t = env["tenant"]
    before = _rows(db, t.project_id)
    with raises(grpc.StatusCode.INVALID_ARGUMENT, None, "server.user_data"):
        compute.create(
            t, env["flavor"].id, env["image"], env["zone"], user_data=b"x" * (LARGEST_USER_DATA + 1)
        )
    assert _rows(db, t.project_id) == before
