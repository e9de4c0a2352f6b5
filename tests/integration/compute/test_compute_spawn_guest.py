"""What a guest learns of itself travels in its spawn command: read here as the node receives
it (the outbox row through convert.command), from a server created through the API."""

import pytest

from controller.compute.conductor import convert, outbox, workflow
from controller.compute.conductor.models import NodeCommand
from controller.compute.records.models import ComputeNode, Instance
from stratus.compute.v1 import compute_service_pb2 as pb
from stratus.node.v1 import node_service_pb2 as npb
from tests.integration.compute.compute_support import add_hosts

USER_DATA = b"#!/bin/sh\necho hello from user data\n"


@pytest.fixture(scope="module")
def env(compute, cloud, db):
    zone, _ = add_hosts(db, 2)
    tenant = cloud.tenant()
    compute.unlimited(tenant.project_id)
    return {"zone": zone, "tenant": tenant, "flavor": compute.flavor(), "image": compute.image()}


def _spawns(db, server_id) -> list:
    return db.call(
        lambda: list(
            NodeCommand.select()
            .where(NodeCommand.instance_id == server_id, NodeCommand.kind == "spawn")
            .order_by(NodeCommand.seq)
        )
    )


def _received(row) -> npb.SpawnAction:
    return convert.command(row).command.spawn


def _placed(compute, tenant, **server) -> str:
    server_id = compute.create(tenant, **server).id
    assert compute.wait_placed(tenant, server_id).task_state == pb.TASK_STATE_SPAWNING
    return server_id


def test_the_spawn_carries_metadata_key_pair_user_data_and_the_guest_s_identity(compute, env, db):
    t = env["tenant"]
    key = compute.stub.CreateKeyPair(
        pb.CreateKeyPairRequest(key_pair=pb.KeyPair(name="boot key")), metadata=t.metadata
    )
    server_id = _placed(
        compute,
        t,
        flavor_id=env["flavor"].id,
        image_id=env["image"],
        zone=env["zone"],
        name="Web_Server 01.example",
        key_name="boot key",
        metadata={"role": "web", "tier": "front"},
        user_data=USER_DATA,
    )
    (row,) = _spawns(db, server_id)
    spawn = _received(row)
    assert spawn.name == "Web_Server 01.example"
    assert dict(spawn.metadata) == {"role": "web", "tier": "front"}
    guest = spawn.guest
    assert guest.hostname == "web-server-01-example"
    assert (guest.project_id, guest.availability_zone) == (t.project_id, env["zone"])
    assert list(guest.keys) == [
        npb.GuestKey(name="boot key", type="ssh", public_key=key.public_key)
    ]
    assert guest.user_data == USER_DATA
    assert guest.config_drive is True  # unset in the request: a config drive, as Nova


def test_a_server_without_key_pair_user_data_or_zone_gets_none_and_its_host_s_zone(
    compute, env, db
):
    t = env["tenant"]
    server_id = _placed(compute, t, flavor_id=env["flavor"].id, image_id=env["image"], name="---")
    (row,) = _spawns(db, server_id)
    guest = _received(row).guest
    host_zone = db.call(lambda: ComputeNode.get_by_id(row.node_id).availability_zone)
    assert guest.availability_zone == host_zone != ""
    assert list(guest.keys) == [] and guest.user_data == b""
    assert guest.hostname == f"server-{server_id}"  # nothing of the name was left


def test_the_spawn_the_sweep_writes_carries_the_same_and_the_config_drive(
    compute, env, db, controller
):
    """A spawn whose command was lost is written again by the sweep (ensure_spawn), from
    the server's row as it is then."""
    t = env["tenant"]
    server_id = _placed(
        compute,
        t,
        flavor_id=env["flavor"].id,
        image_id=env["image"],
        zone=env["zone"],
        name="sweep",
        metadata={"k": "v"},
        user_data=USER_DATA,
        config_drive=False,
    )
    (first,) = _spawns(db, server_id)
    assert _received(first).guest.config_drive is False

    def lose_the_spawn_and_ask_for_a_config_drive():
        with db.write_transaction():
            outbox.finish(first.id, outbox.FAILED, None, "LOST", "lost")
            Instance.update(config_drive=True).where(Instance.id == server_id).execute()
            conductor = controller.app.compute_conductor
            return workflow.ensure_spawn(
                db, conductor.settings, conductor.images, conductor.network, server_id
            )

    assert db.call(lose_the_spawn_and_ask_for_a_config_drive) is not None
    again = _spawns(db, server_id)[-1]
    assert again.id != first.id and again.request_id == first.request_id
    before, after = _received(first), _received(again)
    assert after.guest.config_drive is True
    after.guest.config_drive = False
    assert after == before
