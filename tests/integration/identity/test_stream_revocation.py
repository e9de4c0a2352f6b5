"""Open streams honour revocation: a server-streaming call whose caller loses access (token
revoked, user disabled or deleted, role withdrawn) ends with UNAUTHENTICATED or
PERMISSION_DENIED within the recheck interval, as a new call would be refused, even when its
client reads nothing."""

import threading
import time

import grpc
import pytest

from stratus.compute.v1 import compute_service_pb2 as cpb
from stratus.compute.v1 import compute_service_pb2_grpc as cpb_grpc
from stratus.identity.v1 import identity_service_pb2 as ipb
from stratus.image.v1 import image_service_pb2 as mpb
from stratus.image.v1 import image_service_pb2_grpc as mpb_grpc
from tests.integration.compute_node.node_support import upload_image
from tests.support.cloud import unique

# [controller] stream_recheck_seconds (5) plus the token cache's life for the changes that
# do not record a revocation event (10), plus slack.
ENDS_WITHIN = 30


class Watch:
    """A WatchServers stream read in a thread; `code` once it has ended."""

    def __init__(self, channel, metadata):
        self.call = cpb_grpc.ComputeServiceStub(channel).WatchServers(
            cpb.WatchServersRequest(), metadata=metadata, timeout=ENDS_WITHIN + 30
        )
        self.code = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for _ in self.call:
                pass
            self.code = grpc.StatusCode.OK
        except grpc.RpcError as error:
            self.code = error.code()


def role_id(cloud, name: str) -> str:
    roles = cloud.identity.ListRoles(ipb.ListRolesRequest(name=name), metadata=cloud.admin)
    return roles.roles[0].id


def test_open_watches_end_when_their_caller_loses_access(cloud):
    identity = cloud.identity
    revoked, disabled, deleted, demoted, kept = (cloud.tenant() for _ in range(5))
    observer = identity.CreateRole(
        ipb.CreateRoleRequest(role=ipb.Role(name=unique("observer"))), metadata=cloud.admin
    )
    identity.AssignRole(
        ipb.AssignRoleRequest(
            user_id=demoted.user_id, project_id=demoted.project_id, role_id=observer.id
        ),
        metadata=cloud.admin,
    )
    demoted.token = cloud.token(demoted.user_name, demoted.password, demoted.project_name)
    watches = {
        t.user_name: Watch(cloud.channel, t.metadata)
        for t in (revoked, disabled, deleted, demoted, kept)
    }
    time.sleep(0.5)
    assert all(w.code is None for w in watches.values())

    identity.RevokeToken(ipb.RevokeTokenRequest(token=revoked.token), metadata=cloud.admin)
    identity.UpdateUser(
        ipb.UpdateUserRequest(
            user=ipb.User(id=disabled.user_id, enabled=False), update_mask={"paths": ["enabled"]}
        ),
        metadata=cloud.admin,
    )
    identity.UpdateUser(
        ipb.UpdateUserRequest(
            user=ipb.User(id=deleted.user_id, enabled=False), update_mask={"paths": ["enabled"]}
        ),
        metadata=cloud.admin,
    )
    identity.DeleteUser(ipb.DeleteUserRequest(id=deleted.user_id), metadata=cloud.admin)
    identity.UnassignRole(
        ipb.UnassignRoleRequest(
            user_id=demoted.user_id, project_id=demoted.project_id, role_id=role_id(cloud, "member")
        ),
        metadata=cloud.admin,
    )
    ending = [revoked, disabled, deleted, demoted]
    deadline = time.monotonic() + ENDS_WITHIN
    while time.monotonic() < deadline and any(watches[t.user_name].code is None for t in ending):
        time.sleep(0.1)
    codes = {t.user_name: watches[t.user_name].code for t in ending}
    try:
        # A withdrawn role revokes the user's tokens on the project (as Keystone does).
        assert codes.pop(demoted.user_name) in {
            grpc.StatusCode.UNAUTHENTICATED,
            grpc.StatusCode.PERMISSION_DENIED,
        }
        assert codes == {
            revoked.user_name: grpc.StatusCode.UNAUTHENTICATED,
            disabled.user_name: grpc.StatusCode.UNAUTHENTICATED,
            deleted.user_name: grpc.StatusCode.UNAUTHENTICATED,
        }
        assert watches[kept.user_name].code is None  # the others' streams go on
    finally:
        for watch in watches.values():
            watch.call.cancel()


@pytest.fixture
def big_image(cloud):
    """An image larger than what gRPC buffers for a client that reads nothing."""
    data = b"\1" * (16 << 20)
    image_id = upload_image(cloud, data, "raw")
    yield image_id, len(data)
    mpb_grpc.ImageServiceStub(cloud.channel).DeleteImage(
        mpb.DeleteImageRequest(id=image_id), metadata=cloud.admin
    )


def test_an_unread_download_ends_when_its_token_is_revoked(cloud, big_image):
    image_id, size = big_image
    tenant = cloud.tenant()
    download = mpb_grpc.ImageServiceStub(cloud.channel).DownloadImageData(
        mpb.DownloadImageDataRequest(image_id=image_id),
        metadata=tenant.metadata,
        timeout=ENDS_WITHIN + 30,
    )
    messages = iter(download)
    assert next(messages).HasField("info")
    cloud.identity.RevokeToken(ipb.RevokeTokenRequest(token=tenant.token), metadata=cloud.admin)
    time.sleep(7)  # a recheck runs while nothing is read
    received = []
    with pytest.raises(grpc.RpcError) as ended:
        received.extend(len(message.data) for message in messages)
    assert ended.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert sum(received) < size
