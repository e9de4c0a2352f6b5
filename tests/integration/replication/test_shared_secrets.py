"""Two controller replicas on one database share the Fernet keys and the CA through it:
a token issued by one validates on the other, a key rotation made through either reaches
both, and a token whose key a rotation dropped is refused by both. On the run's database
(SQLite, PostgreSQL or MariaDB)."""

import time

import grpc

from stratus.ca.v1 import ca_service_pb2 as capb
from stratus.ca.v1 import ca_service_pb2_grpc as capb_grpc
from stratus.identity.v1 import identity_service_pb2 as ipb
from tests.support.controller import ADMIN_PASSWORD
from tests.support.errors import raises
from tests.support.sql import execute

DROP_DEADLINE = 30.0  # generous: the bound is [shared_secrets] key_check_seconds (1 s)


def _token(cloud) -> str:
    return cloud.token("admin", ADMIN_PASSWORD, "admin")


def _validates(cloud, token: str) -> ipb.ValidateTokenResponse:
    auth = (("authorization", f"Bearer {token}"),)
    return cloud.identity.ValidateToken(ipb.ValidateTokenRequest(token=token), metadata=auth)


def _refused(cloud, token: str) -> None:
    with raises(grpc.StatusCode.UNAUTHENTICATED, "TOKEN_INVALID"):
        _validates(cloud, token)


def _still_valid(cloud, token: str) -> bool:
    try:
        _validates(cloud, token)
    except grpc.RpcError:
        return False
    return True


def test_a_token_issued_by_one_replica_validates_on_the_other(replicas):
    one, two = replicas.start(2).clouds
    for issuer, validator in ((one, two), (two, one)):
        token = _token(issuer)
        assert _validates(validator, token).info.user_name == "admin"


def test_a_rotation_reaches_both_and_a_dropped_key_is_refused_by_both(replicas):
    one, two = replicas.start(2).clouds
    cached = _token(one)  # key 1, validated (so cached) on both replicas
    for cloud in (one, two):
        _validates(cloud, cached)
    unseen = _token(two)  # key 1 too, never validated before the key is dropped

    # Rotation 1 (key 2 becomes primary; key 1 stays as a secondary): old tokens still
    # work, and the new primary is used by both replicas.
    assert "new primary key 2" in replicas.manage(0, "token", "rotate-keys")
    after_one = [_token(one), _token(two)]
    for cloud in (one, two):
        for token in (cached, *after_one):
            _validates(cloud, token)

    # Rotation 2 drops key 1 (max_active_keys = 3): a token under it is refused by both at
    # once if either replica has not validated it yet ...
    assert "new primary key 3" in replicas.manage(1, "token", "rotate-keys")
    for cloud in (one, two):
        _refused(cloud, unseen)
    # ... and within key_check_seconds if it has.
    for cloud in (one, two):
        deadline = time.monotonic() + DROP_DEADLINE
        while _still_valid(cloud, cached):
            assert time.monotonic() < deadline, "a dropped key is still honoured"
            time.sleep(0.2)
        _refused(cloud, cached)
    # Key 2, now a secondary, still validates everywhere; tokens made now use key 3.
    for cloud in (one, two):
        for token in (*after_one, _token(one), _token(two)):
            _validates(cloud, token)


def test_both_replicas_serve_one_ca(replicas):
    clouds = replicas.start(2).clouds
    served = {
        capb_grpc.CertificateAuthorityServiceStub(cloud.channel)
        .GetCACertificate(capb.GetCACertificateRequest())
        .fingerprint_sha256
        for cloud in clouds
    }
    assert len(served) == 1
    # The database holds it sealed: neither the key nor the certificate in clear text.

    ((sealed,),) = execute(
        replicas.database_url, "SELECT sealed FROM shared_secret WHERE name = 'ca'"
    )
    assert "PRIVATE KEY" not in sealed and "CERTIFICATE" not in sealed
