"""WatchServers: the current state first, live changes after, resumable from a revision."""

import threading
import time
from types import SimpleNamespace

import grpc

from controller.compute.records import lifecycle
from stratus.compute.v1 import compute_service_pb2 as pb
from tests.integration.compute.compute_support import add_hosts
from tests.support.errors import raises


def _collect(compute, tenant, until, **request):
    """Events of one stream until `until(events)` holds (or 20 s pass)."""
    events = []
    stream = compute.stub.WatchServers(
        pb.WatchServersRequest(**request), metadata=tenant.metadata, timeout=20
    )
    try:
        for event in stream:
            events.append(event)
            if until(events):
                break
    finally:
        stream.cancel()
    return events


def test_watch_sends_current_state_then_changes_and_resumes(compute, cloud, db):
    zone, _ = add_hosts(db, 1)
    t = cloud.tenant()
    flavor, image = compute.flavor(), compute.image()
    first = compute.wait_placed(t, compute.create(t, flavor.id, image, zone).id)
    initial = _collect(compute, t, lambda ev: any(e.server.id == first.id for e in ev))
    assert initial[-1].server.task_state == pb.TASK_STATE_SPAWNING
    resume_at = initial[-1].revision

    second_id = []

    def later():
        second_id.append(compute.create(t, flavor.id, image, zone).id)
        compute.stub.DeleteServer(pb.DeleteServerRequest(id=first.id), metadata=t.metadata)

        def destroyed():  # as the conductor does once the host destroyed it
            with db.write_transaction():
                lifecycle.mark_deleted(first.id)

        db.call(destroyed)

    threading.Timer(0.3, later).start()
    live = _collect(
        compute,
        t,
        lambda ev: any(
            e.server.id == first.id and e.server.status == pb.SERVER_STATUS_DELETED for e in ev
        ),
        since_revision=resume_at,
    )
    revisions = [e.revision for e in live]
    assert revisions == sorted(revisions) and revisions[0] > resume_at
    assert second_id[0] in {e.server.id for e in live}
    # Reconnecting from the same revision replays each server changed since, in revision
    # order, at its latest state: an older change the live stream showed may be folded in.
    deleted = next(e for e in live if e.server.status == pb.SERVER_STATUS_DELETED)
    last_seen = {e.server.id: e.revision for e in live}
    replay = _collect(
        compute,
        t,
        lambda ev: (
            {(first.id, deleted.revision)} <= {(e.server.id, e.revision) for e in ev}
            and second_id[0] in {e.server.id for e in ev}
        ),
        since_revision=resume_at,
    )
    revisions = [e.revision for e in replay]
    assert revisions == sorted(set(revisions)) and revisions[0] > resume_at
    for event in replay:
        assert event.revision >= last_seen.get(event.server.id, event.revision)


def test_watch_shows_only_own_servers(compute, cloud, db):
    zone, _ = add_hosts(db, 1)
    t, other = cloud.tenant(), cloud.tenant()
    flavor, image = compute.flavor(), compute.image()
    theirs = compute.create(other, flavor.id, image, zone)
    mine = compute.create(t, flavor.id, image, zone)
    seen = _collect(compute, t, lambda ev: any(e.server.id == mine.id for e in ev))
    assert theirs.id not in {e.server.id for e in seen}
    with raises(grpc.StatusCode.NOT_FOUND, "SERVER_NOT_FOUND"):
        list(
            compute.stub.WatchServers(
                pb.WatchServersRequest(server_id=theirs.id), metadata=t.metadata, timeout=5
            )
        )


def test_admin_watches_a_server_of_any_project_as_it_gets_it(compute, cloud, db):
    zone, _ = add_hosts(db, 1)
    t = cloud.tenant()
    server = compute.create(t, compute.flavor().id, compute.image(), zone)
    admin = SimpleNamespace(metadata=cloud.admin)
    assert compute.get(admin, server.id).id == server.id
    seen = _collect(compute, admin, lambda events: True, server_id=server.id)
    assert [e.server.id for e in seen] == [server.id]


def test_watch_refuses_bad_revisions_and_all_projects_for_members(compute, cloud):
    t = cloud.tenant()
    with raises(grpc.StatusCode.INVALID_ARGUMENT, field="since_revision"):
        list(
            compute.stub.WatchServers(
                pb.WatchServersRequest(since_revision=10**15), metadata=t.metadata, timeout=5
            )
        )
    with raises(grpc.StatusCode.INVALID_ARGUMENT, field="since_revision"):
        list(
            compute.stub.WatchServers(
                pb.WatchServersRequest(since_revision=-1), metadata=t.metadata, timeout=5
            )
        )
    with raises(grpc.StatusCode.PERMISSION_DENIED):
        list(
            compute.stub.WatchServers(
                pb.WatchServersRequest(all_projects=True), metadata=t.metadata, timeout=5
            )
        )


def test_every_call_writes_one_access_log_line_even_when_the_client_cancels(
    compute, cloud, db, caplog
):
    """The pipeline's access log: the method and its code, CANCELLED for a stream its client
    dropped (the handler sees CancelledError, not an Exception)."""
    zone, _ = add_hosts(db, 1)
    t = cloud.tenant()
    compute.create(t, compute.flavor().id, compute.image(), zone)

    def lines(method):
        return [
            r.fields
            for r in caplog.records
            if r.name == "stratus.rpc" and r.msg == "rpc" and r.fields["method"].endswith(method)
        ]

    with caplog.at_level("INFO", logger="stratus.rpc"):
        _collect(compute, t, lambda events: True)  # the first event, then cancel
        with raises(grpc.StatusCode.NOT_FOUND, "SERVER_NOT_FOUND"):
            compute.stub.GetServer(
                pb.GetServerRequest(id="00000000-0000-4000-8000-0000000000ff"), metadata=t.metadata
            )
        deadline = time.monotonic() + 10
        while not lines("/WatchServers") and time.monotonic() < deadline:
            time.sleep(0.05)
    assert [line["code"] for line in lines("/WatchServers")] == ["CANCELLED"]
    assert lines("/WatchServers")[0]["user_id"] == t.user_id
    assert [line["code"] for line in lines("/GetServer")] == ["NOT_FOUND"]
