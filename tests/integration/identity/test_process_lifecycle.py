"""The controller as a real process: SIGTERM lets the call in flight finish and exits 0; data,
keys and revocations survive a restart."""

import signal
import time

import grpc

from stratus.identity.v1 import identity_service_pb2 as ipb
from tests.integration.identity.helpers import (
    bearer,
    issue,
    list_all,
    new_project,
    reached_server,
    role_id,
)
from tests.integration.identity.processes import database_url
from tests.support.cloud import Cloud, unique
from tests.support.errors import raises
from tests.support.sql import execute, write_lock


def _wait_for(predicate, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _refused(cloud) -> bool:
    try:
        cloud.identity.ListRoles(ipb.ListRolesRequest(), metadata=cloud.admin, timeout=10)
    except grpc.RpcError as error:
        # grpc refuses a call that arrives during shutdown with one of these, never runs it.
        assert error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED), error  # noqa: PT017
        return True
    return False


def test_sigterm_finishes_the_call_in_flight_and_exits_0(spawner, monkeypatch):
    monkeypatch.setenv(
        "STRATUS_CONTROLLER_SHUTDOWN_GRACE", "60"
    )  # the test decides when the call ends
    config = spawner.config()
    process = spawner.start(config)
    cloud = spawner.cloud(process)
    name = unique("in-flight")
    # The database refuses writes to `project` until the lock is released, so CreateProject
    # is still running on the server when SIGTERM arrives.
    with write_lock(database_url(config), "project"):
        call = cloud.identity.CreateProject.future(
            ipb.CreateProjectRequest(project=ipb.Project(name=name)),
            metadata=cloud.admin,
            timeout=60,
        )
        reached_server(cloud)
        assert not call.done()
        process.proc.send_signal(signal.SIGTERM)
        _wait_for(lambda: "shutting down" in process.log_path.read_text(), "the shutdown to begin")
        assert not call.done() and process.proc.poll() is None
        # Once the listener stops (right after the log line), no new call is taken while the
        # old one finishes.
        _wait_for(lambda: _refused(cloud), "new calls to be refused")
        assert not call.done()
    project = call.result(timeout=30)
    assert project.name == name
    assert process.proc.wait(timeout=30) == 0
    log = process.log_path.read_text()
    assert "public listener stopped" in log and "Traceback" not in log


def test_data_keys_and_revocations_survive_a_restart(spawner):
    config = spawner.config()
    cloud = spawner.cloud(spawner.start(config))
    project = new_project(cloud, "durable")
    tenant = cloud.tenant("member", project_id=project.id)
    revoked = issue(cloud, tenant.user_name, tenant.password, project.name).token
    cloud.identity.RevokeToken(ipb.RevokeTokenRequest(token=revoked), metadata=cloud.admin)
    before = {
        what: list_all(cloud.identity, what, cloud.admin)
        for what in ("users", "projects", "assignments")
    }
    # An event whose tokens have all expired: the restarted controller purges it.
    url = database_url(config)
    execute(
        url,
        "INSERT INTO token_revocation (audit_id, issued_before, expires_at) VALUES (?, ?, ?)",
        ("long-gone", "2000-01-01 00:00:00", "2000-01-02 00:00:00"),
    )
    assert spawner.running[0].terminate() == 0

    process = spawner.start(config, log_name="restarted.log")
    again = Cloud(process.address)
    try:
        after = {what: list_all(again.identity, what, again.admin) for what in before}
        assert after == before
        # A token issued before the restart still works (the keys are on disk)...
        assert again.identity.GetProject(
            ipb.GetProjectRequest(id=project.id), metadata=bearer(tenant.token)
        ).id
        # ...and one revoked before it stays revoked (revocations are in the database).
        with raises(grpc.StatusCode.UNAUTHENTICATED, "TOKEN_INVALID"):
            again.identity.GetProject(
                ipb.GetProjectRequest(id=project.id), metadata=bearer(revoked)
            )
        assert issue(again, tenant.user_name, tenant.password, project.name).info.roles == [
            "member"
        ]
        assert role_id(again, "member")
        _wait_for(
            lambda: (
                not execute(url, "SELECT id FROM token_revocation WHERE audit_id = 'long-gone'")
            ),
            "the expired revocation event to be purged",
        )
        assert (
            execute(url, "SELECT COUNT(*) FROM token_revocation")[0][0] >= 1
        )  # the live one stays
    finally:
        again.close()
