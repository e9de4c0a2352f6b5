"""Console tokens against the real database (controller/compute/consoleauth/tokens.py): what a
token opens, once; stored only as a hash; and each way it stops working."""

from __future__ import annotations

import datetime
import hashlib
import threading
import uuid

import pytest

from controller.compute.consoleauth import tokens
from controller.compute.consoleauth.models import ConsoleToken
from controller.compute.records.models import Instance
from controller.db.queries import utcnow
from controller.identity.models import RoleAssignment, User
from stratus_common.errors import FailedPrecondition, Unauthenticated

TTL = 600


@pytest.fixture
def tenant(cloud):
    return cloud.tenant(role="member")


def server(db, tenant, vm_state="active", host="node-a.test") -> Instance:
    now = utcnow()

    def write():
        with db.write_transaction():
            return Instance.create(
                id=str(uuid.uuid4()),
                project_id=tenant.project_id,
                user_id=tenant.user_id,
                name="console-test",
                flavor_id="f",
                flavor_name="f",
                vcpus=1,
                ram_mb=64,
                disk_gb=1,
                ephemeral_gb=0,
                swap_mb=0,
                image_id=str(uuid.uuid4()),
                vm_state=vm_state,
                power_state="running",
                host=host,
                node_id=str(uuid.uuid4()),
                revision=0,
                created_at=now,
                updated_at=now,
            )

    return db.call(write)


def issue(db, row, tenant, console_type="novnc", now=None):
    def write():
        with db.write_transaction():
            return tokens.issue(
                row, console_type, tenant.user_id, tenant.project_id, TTL, now or utcnow()
            )

    return db.call(write)


def redeem(db, token, now=None):
    def write():
        with db.write_transaction():
            return tokens.redeem(token, now or utcnow())

    return db.call(write)


def test_a_token_opens_its_servers_console_once_and_only_its_hash_is_stored(db, tenant):
    row = server(db, tenant)
    token, expires = issue(db, row, tenant)
    assert len(token) >= 43  # 32 random bytes
    stored = db.call(lambda: ConsoleToken.get_by_id(hashlib.sha256(token.encode()).hexdigest()))
    assert token not in {stored.token_hash, stored.instance_id}
    assert (stored.host, stored.console_type) == ("node-a.test", "novnc")
    assert expires - stored.created_at == datetime.timedelta(seconds=TTL)
    grant = redeem(db, token)
    assert (grant.instance_id, grant.node_id, grant.kind) == (row.id, row.node_id, "vnc")
    with pytest.raises(Unauthenticated) as again:
        redeem(db, token)
    assert again.value.reason == "CONSOLE_TOKEN_INVALID"


def test_two_connections_racing_for_one_token_get_it_once(db, tenant):
    token, _ = issue(db, server(db, tenant), tenant)
    outcomes = []

    def attempt():
        try:
            outcomes.append(redeem(db, token).instance_id)
        except Unauthenticated:
            outcomes.append(None)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(outcomes) == 8 and len([o for o in outcomes if o]) == 1


@pytest.mark.parametrize("token", ["", "x" * 200, "not-a-token"])
def test_unknown_tokens_open_nothing(db, token):
    with pytest.raises(Unauthenticated):
        redeem(db, token)


def test_an_expired_token_opens_nothing(db, tenant):
    token, expires = issue(db, server(db, tenant), tenant)
    with pytest.raises(Unauthenticated):
        redeem(db, token, now=expires + datetime.timedelta(seconds=1))


def test_a_token_stops_working_when_its_server_moves_or_is_deleted(db, tenant):
    moved = server(db, tenant)
    deleted = server(db, tenant)
    moved_token, _ = issue(db, moved, tenant)
    deleted_token, _ = issue(db, deleted, tenant)

    def change():
        with db.write_transaction():
            Instance.update(host="node-b.test").where(Instance.id == moved.id).execute()
            Instance.update(deleted_at=utcnow()).where(Instance.id == deleted.id).execute()

    db.call(change)
    for token in (moved_token, deleted_token):
        with pytest.raises(Unauthenticated):
            redeem(db, token)


@pytest.mark.parametrize(
    "take_away",
    [
        lambda user_id: RoleAssignment.delete().where(RoleAssignment.user == user_id),
        lambda user_id: User.update(enabled=False).where(User.id == user_id),
    ],
    ids=["role removed", "user disabled"],
)
def test_a_token_stops_working_when_its_users_access_is_gone(db, cloud, take_away):
    tenant = cloud.tenant(role="member")
    token, _ = issue(db, server(db, tenant), tenant)

    def revoke():
        with db.write_transaction():
            take_away(tenant.user_id).execute()

    db.call(revoke)
    with pytest.raises(Unauthenticated):
        redeem(db, token)


def test_only_an_active_server_on_a_host_gets_a_token(db, tenant):
    with pytest.raises(FailedPrecondition) as refused:
        issue(db, server(db, tenant, vm_state="building", host=None), tenant)
    assert refused.value.reason == "INVALID_SERVER_STATE"


def test_spice_channels_share_a_page_token_for_a_short_while(db, tenant):
    row = server(db, tenant)
    token, _ = issue(db, row, tenant, "spice-html5")
    now = utcnow()
    assert redeem(db, token, now).kind == "spice"
    assert redeem(db, token, now + datetime.timedelta(seconds=5)).kind == "spice"
    with pytest.raises(Unauthenticated):
        redeem(db, token, now + tokens.SPICE_CHANNEL_GRACE + datetime.timedelta(seconds=1))


def test_expired_tokens_are_purged_when_new_ones_are_issued(db, tenant):
    row = server(db, tenant)
    old, _ = issue(db, row, tenant, now=utcnow() - datetime.timedelta(seconds=2 * TTL))
    issue(db, row, tenant)
    digest = hashlib.sha256(old.encode()).hexdigest()
    assert db.call(lambda: ConsoleToken.get_or_none(ConsoleToken.token_hash == digest)) is None
