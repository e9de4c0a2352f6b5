"""Key-pair calls naming another user, and the default visibility of a new flavor."""

import grpc

from stratus.compute.v1 import compute_service_pb2 as pb
from tests.support.cloud import unique
from tests.support.errors import raises


def _key_pairs(compute, tenant):
    return [
        k.name
        for k in compute.stub.ListKeyPairs(
            pb.ListKeyPairsRequest(), metadata=tenant.metadata
        ).key_pairs
    ]


def test_a_member_naming_another_user_on_key_pairs_is_denied(cloud, compute):
    owner, other = cloud.tenant("member"), cloud.tenant("member")
    for tenant in (owner, other):
        compute.stub.CreateKeyPair(
            pb.CreateKeyPairRequest(key_pair=pb.KeyPair(name="k")), metadata=tenant.metadata
        )
    calls = [
        lambda: compute.stub.DeleteKeyPair(
            pb.DeleteKeyPairRequest(name="k", user_id=other.user_id), metadata=owner.metadata
        ),
        lambda: compute.stub.GetKeyPair(
            pb.GetKeyPairRequest(name="k", user_id=other.user_id), metadata=owner.metadata
        ),
        lambda: compute.stub.ListKeyPairs(
            pb.ListKeyPairsRequest(user_id=other.user_id), metadata=owner.metadata
        ),
    ]
    for call in calls:
        with raises(grpc.StatusCode.PERMISSION_DENIED, reason="KEY_PAIR_OTHER_USER"):
            call()
    assert _key_pairs(compute, owner) == ["k"] and _key_pairs(compute, other) == ["k"]
    # Naming oneself is the same as naming no one; an admin may name anyone.
    got = compute.stub.GetKeyPair(
        pb.GetKeyPairRequest(name="k", user_id=owner.user_id), metadata=owner.metadata
    )
    assert got.user_id == owner.user_id
    compute.stub.DeleteKeyPair(
        pb.DeleteKeyPairRequest(name="k", user_id=other.user_id), metadata=cloud.admin
    )
    assert _key_pairs(compute, owner) == ["k"] and _key_pairs(compute, other) == []


def test_a_flavor_created_without_is_public_is_public(cloud, compute):
    made = compute.stub.CreateFlavor(
        pb.CreateFlavorRequest(
            flavor=pb.Flavor(name=unique("flavor"), vcpus=1, ram_mb=64, disk_gb=1)
        ),
        metadata=cloud.admin,
    )
    assert made.is_public
    stranger = cloud.tenant("member")
    assert compute.stub.GetFlavor(
        pb.GetFlavorRequest(id=made.id), metadata=stranger.metadata
    ).is_public
    private = compute.stub.CreateFlavor(
        pb.CreateFlavorRequest(
            flavor=pb.Flavor(name=unique("flavor"), vcpus=1, ram_mb=64, disk_gb=1, is_public=False)
        ),
        metadata=cloud.admin,
    )
    assert not private.is_public and private.HasField("is_public")
    with raises(grpc.StatusCode.NOT_FOUND):
        compute.stub.GetFlavor(pb.GetFlavorRequest(id=private.id), metadata=stranger.metadata)
