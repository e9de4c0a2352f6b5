"""Node commands as the outbox keeps them (the message less its ids) and as the node receives
them, and the guest's host name derived from the server's name."""

import datetime
from types import SimpleNamespace

import pytest

from controller.compute.conductor import commands, convert
from controller.compute.conductor.spawns import hostname
from controller.image.port import BootImages, ImageRef
from stratus.node.v1 import node_service_pb2 as pb

ROOT = ImageRef("root-id", "qcow2", "ab" * 64, 4096)
GUEST = commands.Guest(
    config_drive=True,
    hostname="web",
    project_id="p",
    availability_zone="az",
    key_name="k",
    public_key="ssh-ed25519 AAAA k",
    user_data=b"\x00\xff",
)


# naive UTC, as the outbox keeps it
EXPIRES = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.UTC).replace(tzinfo=None)


def _sent(body: commands.Body, **ids) -> pb.Command:
    row = SimpleNamespace(
        body=body.data,
        expires_at=EXPIRES,
        **{"id": "c", "request_id": "r", "instance_id": "i", **ids},
    )
    return convert.command(row).command


@pytest.mark.parametrize(
    "name, expected",
    [
        ("web01", "web01"),
        ("Web_Server 01.example", "web-server-01-example"),
        ("--édith's box--", "dith-s-box"),
        ("a" * 62 + " b", "a" * 62),  # cut at 63, then no '-' left at the end
        ("b" * 80, "b" * 63),
        ("...", "server-i"),
        ("", "server-i"),
    ],
)
def test_hostname_from_the_server_name(name, expected):
    assert hostname(name, "i") == expected


def test_the_node_receives_the_stored_message_with_the_row_s_ids():
    sent = _sent(commands.console_output(4096), instance_id=None)
    assert (sent.command_id, sent.request_id, sent.instance_id) == ("c", "r", "")
    # when the controller stops waiting: the node retries an image fetch until then
    assert sent.expires_at.ToDatetime() == EXPIRES
    assert sent.WhichOneof("action") == "console_output"
    assert sent.console_output.max_bytes == 4096


def test_a_spawn_carries_its_images_and_guest():
    kernel, ramdisk = ImageRef("kernel-id", "aki"), ImageRef("ramdisk-id", "ari")
    body = commands.spawn(
        "web",
        2,
        512,
        10,
        BootImages(ROOT, kernel, ramdisk, "console=ttyS0"),
        {"role": "web"},
        GUEST,
    )
    assert body.kind == "spawn"
    spawn = _sent(body).spawn
    assert (spawn.name, spawn.vcpus, spawn.memory_mb, spawn.disk_gb) == ("web", 2, 512, 10)
    assert spawn.image == pb.ImageRef(
        image_id="root-id", disk_format="qcow2", os_hash_value="ab" * 64, size=4096
    )
    assert (spawn.kernel.image_id, spawn.ramdisk.image_id) == ("kernel-id", "ramdisk-id")
    assert spawn.kernel_cmdline == "console=ttyS0" and dict(spawn.metadata) == {"role": "web"}
    assert spawn.guest == pb.GuestData(
        config_drive=True,
        hostname="web",
        project_id="p",
        availability_zone="az",
        keys=[pb.GuestKey(name="k", type="ssh", public_key="ssh-ed25519 AAAA k")],
        user_data=b"\x00\xff",
    )
    assert commands.image_ids(body.data) == {"root-id", "kernel-id", "ramdisk-id"}


def test_a_spawn_without_kernel_or_key_pair_leaves_them_out():
    body = commands.spawn(
        "web", 1, 256, 1, BootImages(ROOT), {}, commands.Guest(False, "web", "p", "az")
    )
    spawn = _sent(body).spawn
    assert not spawn.HasField("kernel") and not spawn.HasField("ramdisk")
    assert list(spawn.guest.keys) == []
    assert commands.image_ids(body.data) == {"root-id"}


@pytest.mark.parametrize("action", sorted(commands.OPERATIONS))
def test_a_power_command_names_its_action(action):
    body = commands.power(action)
    assert body.kind == "power"
    assert _sent(body).power.operation == commands.OPERATIONS[action]
    assert commands.power_action(body.data) == action


def test_other_commands_boot_from_no_image():
    for body in (commands.destroy(), commands.power("stop"), commands.console_output(0)):
        assert commands.image_ids(body.data) == set()
    assert commands.destroy().kind == "destroy"
    assert _sent(commands.destroy()).HasField("destroy")
