"""Account lockout after N failed passwords ([identity] lockout_failure_attempts), on the `custom`
controller process (3 attempts, 10 minutes). The refusal never says why."""

import time
from concurrent.futures import ThreadPoolExecutor

import grpc

from controller.identity import users
from stratus.identity.v1 import identity_service_pb2 as ipb
from tests.integration.identity.helpers import PASSWORD, issue, mask, new_user, unknown_id
from tests.support.errors import raises

ATTEMPTS = 3


def _fail(cloud, name, password="wrong-password"):
    with raises(grpc.StatusCode.UNAUTHENTICATED, "AUTHENTICATION_FAILED") as failure:
        issue(cloud, name, password)
    return failure.value.details()


def test_locked_after_n_failures_with_the_same_message(custom):
    user = new_user(custom, "locked")
    messages = {_fail(custom, user.name) for _ in range(ATTEMPTS)}
    # The right password is now refused too, in the same words as for a user who does not exist.
    messages.add(_fail(custom, user.name, PASSWORD))
    messages.add(_fail(custom, "nobody-" + unknown_id()))
    assert len(messages) == 1


def test_fewer_failures_do_not_lock_and_a_success_resets_the_count(custom):
    user = new_user(custom, "careful")
    for _ in range(ATTEMPTS - 1):
        _fail(custom, user.name)
    assert issue(custom, user.name).token
    for _ in range(ATTEMPTS - 1):
        _fail(custom, user.name)
    assert issue(custom, user.name).token


def test_concurrent_failures_all_count(custom):
    user = new_user(custom, "hammered")
    with ThreadPoolExecutor(ATTEMPTS) as pool:
        list(pool.map(lambda _: _fail(custom, user.name), range(ATTEMPTS)))
    _fail(custom, user.name, PASSWORD)


def test_lockout_is_per_user(custom):
    victim, bystander = new_user(custom, "victim"), new_user(custom, "bystander")
    for _ in range(ATTEMPTS):
        _fail(custom, victim.name)
    assert issue(custom, bystander.name).token
    _fail(custom, victim.name, PASSWORD)


def test_an_admin_password_reset_unlocks(custom):
    user = new_user(custom, "reset")
    for _ in range(ATTEMPTS):
        _fail(custom, user.name)
    custom.identity.UpdateUser(
        ipb.UpdateUserRequest(
            user=ipb.User(id=user.id), update_mask=mask("password"), password="fresh-password-1"
        ),
        metadata=custom.admin,
    )
    assert issue(custom, user.name, "fresh-password-1").token


def test_a_lock_ends_after_its_duration(cloud, db):
    # On the session controller (lockout off, so only this lock counts): one failure with
    # max_attempts = 1 locks for two seconds, and the controller honours it, then lets go.
    user = new_user(cloud, "briefly-locked")
    db.call(users.record_failed_login, user.id, 1, 2)
    _fail(cloud, user.name, PASSWORD)
    time.sleep(2.1)
    assert issue(cloud, user.name).info.user_id == user.id
