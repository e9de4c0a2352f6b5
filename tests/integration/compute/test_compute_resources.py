"""Flavors, key pairs, server groups and quotas: each status code, and cross-tenant NOT_FOUND."""

import grpc
import pytest
from cryptography.hazmat.primitives import serialization

from stratus.compute.v1 import compute_service_pb2 as pb
from tests.integration.compute.compute_support import add_hosts
from tests.support.cloud import unique
from tests.support.errors import raises


def _flavor(**kw):
    base = dict(name=unique("f"), vcpus=1, ram_mb=64, disk_gb=1, is_public=True)
    base.update(kw)
    return pb.Flavor(**base)


# -- flavors -------------------------------------------------------------------------------


def test_flavor_lifecycle(compute, cloud):
    admin = cloud.admin
    made = compute.stub.CreateFlavor(
        pb.CreateFlavorRequest(
            flavor=_flavor(extra_specs={"hw:cpu_policy": "shared"}, swap_mb=512)
        ),
        metadata=admin,
    )
    assert made.id and made.swap_mb == 512 and dict(made.extra_specs) == {"hw:cpu_policy": "shared"}
    t = cloud.tenant()
    assert (
        compute.stub.GetFlavor(pb.GetFlavorRequest(id=made.id), metadata=t.metadata).name
        == made.name
    )
    updated = compute.stub.UpdateFlavor(
        pb.UpdateFlavorRequest(
            flavor=pb.Flavor(id=made.id, description="small", vcpus=99),
            update_mask={"paths": ["description"]},
        ),
        metadata=admin,
    )
    assert (updated.description, updated.vcpus) == ("small", 1)
    with raises(grpc.StatusCode.INVALID_ARGUMENT, field="update_mask"):
        compute.stub.UpdateFlavor(
            pb.UpdateFlavorRequest(
                flavor=pb.Flavor(id=made.id, vcpus=2), update_mask={"paths": ["vcpus"]}
            ),
            metadata=admin,
        )
    compute.stub.DeleteFlavor(pb.DeleteFlavorRequest(id=made.id), metadata=admin)
    with raises(grpc.StatusCode.NOT_FOUND, "FLAVOR_NOT_FOUND"):
        compute.stub.GetFlavor(pb.GetFlavorRequest(id=made.id), metadata=admin)


def test_flavor_custom_id_and_duplicates(compute, cloud):
    fid = unique("tiny")
    name = unique("name")
    compute.stub.CreateFlavor(
        pb.CreateFlavorRequest(flavor=_flavor(name=name), flavor_id=fid), metadata=cloud.admin
    )
    with raises(grpc.StatusCode.ALREADY_EXISTS, "FLAVOR_EXISTS"):
        compute.stub.CreateFlavor(
            pb.CreateFlavorRequest(flavor=_flavor(), flavor_id=fid), metadata=cloud.admin
        )
    with raises(grpc.StatusCode.ALREADY_EXISTS, "FLAVOR_EXISTS"):
        compute.stub.CreateFlavor(
            pb.CreateFlavorRequest(flavor=_flavor(name=name)), metadata=cloud.admin
        )


@pytest.mark.parametrize(
    "bad,field",
    [
        (dict(name=""), "flavor.name"),
        (dict(vcpus=0), "flavor.vcpus"),
        (dict(ram_mb=0), "flavor.ram_mb"),
        (dict(disk_gb=-1), "flavor.disk_gb"),
        (dict(swap_mb=-1), "flavor.swap_mb"),
        (dict(extra_specs={"bad key!": "x"}), "flavor.extra_specs"),
    ],
)
def test_bad_flavors(compute, cloud, bad, field):
    with raises(grpc.StatusCode.INVALID_ARGUMENT, field=field):
        compute.stub.CreateFlavor(
            pb.CreateFlavorRequest(flavor=_flavor(**bad)), metadata=cloud.admin
        )
    with raises(grpc.StatusCode.INVALID_ARGUMENT, field="flavor_id"):
        compute.stub.CreateFlavor(
            pb.CreateFlavorRequest(flavor=_flavor(), flavor_id="a/b"), metadata=cloud.admin
        )


def test_members_cannot_manage_flavors(compute, cloud):
    t = cloud.tenant()
    with raises(grpc.StatusCode.PERMISSION_DENIED):
        compute.stub.CreateFlavor(pb.CreateFlavorRequest(flavor=_flavor()), metadata=t.metadata)


def test_private_flavor_access(compute, cloud):
    private = compute.stub.CreateFlavor(
        pb.CreateFlavorRequest(flavor=_flavor(is_public=False)), metadata=cloud.admin
    )
    t, other = cloud.tenant(), cloud.tenant()
    with raises(grpc.StatusCode.NOT_FOUND, "FLAVOR_NOT_FOUND"):
        compute.stub.GetFlavor(pb.GetFlavorRequest(id=private.id), metadata=t.metadata)
    added = compute.stub.AddFlavorAccess(
        pb.AddFlavorAccessRequest(flavor_id=private.id, project_ids=[t.project_id, t.project_id]),
        metadata=cloud.admin,
    )
    assert list(added.project_ids) == [t.project_id]
    assert compute.stub.GetFlavor(pb.GetFlavorRequest(id=private.id), metadata=t.metadata).id
    listed = compute.stub.ListFlavors(pb.ListFlavorsRequest(page_size=1000), metadata=t.metadata)
    assert private.id in [f.id for f in listed.flavors]
    other_list = compute.stub.ListFlavors(
        pb.ListFlavorsRequest(page_size=1000), metadata=other.metadata
    )
    assert private.id not in [f.id for f in other_list.flavors]
    access = compute.stub.ListFlavorAccess(
        pb.ListFlavorAccessRequest(flavor_id=private.id), metadata=cloud.admin
    )
    assert list(access.project_ids) == [t.project_id]
    with raises(grpc.StatusCode.NOT_FOUND, "PROJECT_NOT_FOUND"):
        compute.stub.AddFlavorAccess(
            pb.AddFlavorAccessRequest(
                flavor_id=private.id, project_ids=["00000000-0000-4000-8000-000000000000"]
            ),
            metadata=cloud.admin,
        )
    compute.stub.RemoveFlavorAccess(
        pb.RemoveFlavorAccessRequest(flavor_id=private.id, project_ids=[t.project_id]),
        metadata=cloud.admin,
    )
    with raises(grpc.StatusCode.NOT_FOUND):
        compute.stub.GetFlavor(pb.GetFlavorRequest(id=private.id), metadata=t.metadata)
    public = compute.flavor()
    with raises(grpc.StatusCode.FAILED_PRECONDITION, "FLAVOR_IS_PUBLIC"):
        compute.stub.AddFlavorAccess(
            pb.AddFlavorAccessRequest(flavor_id=public.id, project_ids=[t.project_id]),
            metadata=cloud.admin,
        )


# -- key pairs -----------------------------------------------------------------------------


def test_generated_key_pair_returns_private_key_once(compute, cloud):
    t = cloud.tenant()
    made = compute.stub.CreateKeyPair(
        pb.CreateKeyPairRequest(key_pair=pb.KeyPair(name="k1")), metadata=t.metadata
    )
    private = serialization.load_ssh_private_key(made.private_key.encode(), None)
    assert made.public_key.startswith("ssh-ed25519") and private is not None
    got = compute.stub.GetKeyPair(pb.GetKeyPairRequest(name="k1"), metadata=t.metadata)
    assert got.private_key == "" and got.fingerprint == made.fingerprint
    with raises(grpc.StatusCode.ALREADY_EXISTS):
        compute.stub.CreateKeyPair(
            pb.CreateKeyPairRequest(key_pair=pb.KeyPair(name="k1")), metadata=t.metadata
        )
    other = cloud.tenant()
    with raises(grpc.StatusCode.NOT_FOUND, "KEY_PAIR_NOT_FOUND"):
        compute.stub.GetKeyPair(pb.GetKeyPairRequest(name="k1"), metadata=other.metadata)
    with raises(grpc.StatusCode.NOT_FOUND, "KEY_PAIR_NOT_FOUND"):
        compute.stub.DeleteKeyPair(pb.DeleteKeyPairRequest(name="k1"), metadata=other.metadata)
    # a member naming another user is refused; only an admin may
    with raises(grpc.StatusCode.PERMISSION_DENIED, "KEY_PAIR_OTHER_USER"):
        compute.stub.GetKeyPair(
            pb.GetKeyPairRequest(name="k1", user_id=t.user_id), metadata=other.metadata
        )
    assert (
        compute.stub.GetKeyPair(
            pb.GetKeyPairRequest(name="k1", user_id=t.user_id), metadata=cloud.admin
        ).name
        == "k1"
    )
    compute.stub.DeleteKeyPair(pb.DeleteKeyPairRequest(name="k1"), metadata=t.metadata)
    assert compute.stub.ListKeyPairs(pb.ListKeyPairsRequest(), metadata=t.metadata).key_pairs == []


def test_import_and_bad_key_pairs(compute, cloud):
    t = cloud.tenant()
    public = compute.stub.CreateKeyPair(
        pb.CreateKeyPairRequest(key_pair=pb.KeyPair(name="gen")), metadata=t.metadata
    ).public_key
    imported = compute.stub.CreateKeyPair(
        pb.CreateKeyPairRequest(key_pair=pb.KeyPair(name="imported", public_key=public)),
        metadata=t.metadata,
    )
    assert imported.private_key == "" and imported.public_key == public
    with raises(grpc.StatusCode.INVALID_ARGUMENT, field="key_pair.public_key"):
        compute.stub.CreateKeyPair(
            pb.CreateKeyPairRequest(key_pair=pb.KeyPair(name="bad", public_key="ssh-rsa nope")),
            metadata=t.metadata,
        )
    with raises(grpc.StatusCode.INVALID_ARGUMENT, field="key_pair.name"):
        compute.stub.CreateKeyPair(
            pb.CreateKeyPairRequest(key_pair=pb.KeyPair(name="a/b")), metadata=t.metadata
        )
    names = [
        k.name
        for k in compute.stub.ListKeyPairs(pb.ListKeyPairsRequest(), metadata=t.metadata).key_pairs
    ]
    assert names == ["gen", "imported"]


def test_key_pair_is_injected_into_the_server(compute, cloud, db):
    zone, _ = add_hosts(db, 1)
    t = cloud.tenant()
    key = compute.stub.CreateKeyPair(
        pb.CreateKeyPairRequest(key_pair=pb.KeyPair(name="boot")), metadata=t.metadata
    )
    server = compute.create(t, compute.flavor().id, compute.image(), zone, key_name="boot")
    assert server.key_name == "boot"
    from controller.compute.records.models import Instance

    assert db.call(lambda: Instance.get_by_id(server.id).key_data) == key.public_key


# -- server groups -------------------------------------------------------------------------


def test_server_groups(compute, cloud):
    t, other = cloud.tenant(), cloud.tenant()
    g = compute.stub.CreateServerGroup(
        pb.CreateServerGroupRequest(
            server_group=pb.ServerGroup(
                name="g", policy=pb.SERVER_GROUP_POLICY_ANTI_AFFINITY, max_server_per_host=2
            )
        ),
        metadata=t.metadata,
    )
    assert (g.policy, g.max_server_per_host, g.project_id) == (
        pb.SERVER_GROUP_POLICY_ANTI_AFFINITY,
        2,
        t.project_id,
    )
    with raises(grpc.StatusCode.NOT_FOUND, "SERVER_GROUP_NOT_FOUND"):
        compute.stub.GetServerGroup(pb.GetServerGroupRequest(id=g.id), metadata=other.metadata)
    with raises(grpc.StatusCode.NOT_FOUND, "SERVER_GROUP_NOT_FOUND"):
        compute.stub.DeleteServerGroup(
            pb.DeleteServerGroupRequest(id=g.id), metadata=other.metadata
        )
    assert [
        x.id
        for x in compute.stub.ListServerGroups(
            pb.ListServerGroupsRequest(), metadata=other.metadata
        ).server_groups
    ] == []
    with raises(grpc.StatusCode.INVALID_ARGUMENT, field="server_group.policy"):
        compute.stub.CreateServerGroup(
            pb.CreateServerGroupRequest(server_group=pb.ServerGroup(name="g")), metadata=t.metadata
        )
    with raises(grpc.StatusCode.INVALID_ARGUMENT, field="server_group.max_server_per_host"):
        compute.stub.CreateServerGroup(
            pb.CreateServerGroupRequest(
                server_group=pb.ServerGroup(
                    name="g", policy=pb.SERVER_GROUP_POLICY_AFFINITY, max_server_per_host=2
                )
            ),
            metadata=t.metadata,
        )
    compute.stub.DeleteServerGroup(pb.DeleteServerGroupRequest(id=g.id), metadata=t.metadata)
    with raises(grpc.StatusCode.NOT_FOUND):
        compute.stub.GetServerGroup(pb.GetServerGroupRequest(id=g.id), metadata=t.metadata)


# -- quotas --------------------------------------------------------------------------------


def test_quota_defaults_usage_and_exhaustion(compute, cloud, db):
    zone, _ = add_hosts(db, 2)
    t = cloud.tenant()
    quotas = compute.stub.GetQuotas(pb.GetQuotasRequest(), metadata=t.metadata)
    assert (quotas.limits.instances, quotas.limits.cores, quotas.usage.instances) == (10, 20, 0)
    compute.stub.UpdateQuotas(
        pb.UpdateQuotasRequest(
            quotas=pb.Quotas(project_id=t.project_id, limits=pb.QuotaValues(instances=2, cores=3)),
            update_mask={"paths": ["limits.instances", "limits.cores"]},
        ),
        metadata=cloud.admin,
    )
    flavor, image = compute.flavor(vcpus=1), compute.image()
    compute.create(t, flavor.id, image, zone)
    big = compute.flavor(vcpus=3)
    with raises(grpc.StatusCode.RESOURCE_EXHAUSTED, "QUOTA_EXCEEDED") as info:
        compute.create(t, big.id, image, zone)
    assert "cores" in info.value.details()
    compute.create(t, flavor.id, image, zone)
    with raises(grpc.StatusCode.RESOURCE_EXHAUSTED, "QUOTA_EXCEEDED") as info:
        compute.create(t, flavor.id, image, zone)
    assert "instances" in info.value.details()
    usage = compute.stub.GetQuotas(pb.GetQuotasRequest(), metadata=t.metadata).usage
    assert (usage.instances, usage.cores) == (2, 2)
    compute.stub.DeleteQuotas(pb.DeleteQuotasRequest(project_id=t.project_id), metadata=cloud.admin)
    compute.create(t, flavor.id, image, zone)


def test_quota_permissions_and_bad_values(compute, cloud):
    t, other = cloud.tenant(), cloud.tenant()
    with raises(grpc.StatusCode.PERMISSION_DENIED):
        compute.stub.GetQuotas(
            pb.GetQuotasRequest(project_id=other.project_id), metadata=t.metadata
        )
    with raises(grpc.StatusCode.PERMISSION_DENIED):
        compute.stub.UpdateQuotas(
            pb.UpdateQuotasRequest(
                quotas=pb.Quotas(project_id=t.project_id, limits=pb.QuotaValues(cores=1000)),
                update_mask={"paths": ["limits.cores"]},
            ),
            metadata=t.metadata,
        )
    with raises(grpc.StatusCode.INVALID_ARGUMENT, field="quotas.limits.cores"):
        compute.stub.UpdateQuotas(
            pb.UpdateQuotasRequest(
                quotas=pb.Quotas(project_id=t.project_id, limits=pb.QuotaValues(cores=-5)),
                update_mask={"paths": ["limits.cores"]},
            ),
            metadata=cloud.admin,
        )
    with raises(grpc.StatusCode.INVALID_ARGUMENT, field="update_mask"):
        compute.stub.UpdateQuotas(
            pb.UpdateQuotasRequest(
                quotas=pb.Quotas(project_id=t.project_id), update_mask={"paths": ["limits.nope"]}
            ),
            metadata=cloud.admin,
        )
    with raises(grpc.StatusCode.NOT_FOUND, "PROJECT_NOT_FOUND"):
        compute.stub.UpdateQuotas(
            pb.UpdateQuotasRequest(
                quotas=pb.Quotas(
                    project_id="00000000-0000-4000-8000-000000000000",
                    limits=pb.QuotaValues(cores=1),
                ),
                update_mask={"paths": ["limits.cores"]},
            ),
            metadata=cloud.admin,
        )


def test_key_pair_and_group_quotas(compute, cloud):
    t = cloud.tenant()
    compute.stub.UpdateQuotas(
        pb.UpdateQuotasRequest(
            quotas=pb.Quotas(
                project_id=t.project_id, limits=pb.QuotaValues(key_pairs=1, server_groups=1)
            ),
            update_mask={"paths": ["limits.key_pairs", "limits.server_groups"]},
        ),
        metadata=cloud.admin,
    )
    compute.stub.CreateKeyPair(
        pb.CreateKeyPairRequest(key_pair=pb.KeyPair(name="a")), metadata=t.metadata
    )
    with raises(grpc.StatusCode.RESOURCE_EXHAUSTED, "QUOTA_EXCEEDED"):
        compute.stub.CreateKeyPair(
            pb.CreateKeyPairRequest(key_pair=pb.KeyPair(name="b")), metadata=t.metadata
        )
    group = pb.ServerGroup(name="g", policy=pb.SERVER_GROUP_POLICY_AFFINITY)
    compute.stub.CreateServerGroup(
        pb.CreateServerGroupRequest(server_group=group), metadata=t.metadata
    )
    with raises(grpc.StatusCode.RESOURCE_EXHAUSTED, "QUOTA_EXCEEDED"):
        compute.stub.CreateServerGroup(
            pb.CreateServerGroupRequest(server_group=group), metadata=t.metadata
        )
    assert (
        len(compute.stub.ListKeyPairs(pb.ListKeyPairsRequest(), metadata=t.metadata).key_pairs) == 1
    )
