"""The executor on libvirt's test driver: at-most-once by command id, refusals, interruptions."""

import asyncio
import hashlib
import json
import os
import shutil
import time
import uuid
import xml.etree.ElementTree as ET

import grpc
import pytest

from compute_node.executor import Executor
from compute_node.image_fetch import FetchSettings, ImageFetcher
from compute_node.journal import Journal
from stratus.node.v1 import node_service_pb2 as pb
from stratus.node.v1 import node_service_pb2_grpc as node_grpc
from tests.support import config_drive as read_back
from tests.support.ports import free_port

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="no qemu-img")
DISK = b"\0" * 65536


def images_from(store: dict, fetched: list):
    async def chunks(image_id):
        fetched.append(image_id)
        yield store[image_id]

    return chunks


@pytest.fixture
def setup(driver, image_cache, tmp_path):
    image_id = str(uuid.uuid4())
    fetched = []
    journal = Journal(str(tmp_path / "journal.db"), boot_id="boot-1")
    executor = Executor(driver, image_cache, journal)
    yield executor, journal, image_id, images_from({image_id: DISK}, fetched), fetched
    journal.close()


def spawn_command(image_id, instance_id=None, command_id=None):
    command = pb.Command(
        command_id=command_id or str(uuid.uuid4()),
        request_id="req-1",
        instance_id=instance_id or str(uuid.uuid4()),
    )
    command.spawn.name, command.spawn.vcpus, command.spawn.memory_mb = "vm", 1, 256
    command.spawn.disk_gb = 1
    command.spawn.image.image_id = image_id
    command.spawn.image.disk_format = "raw"
    command.spawn.image.os_hash_value = hashlib.sha512(DISK).hexdigest()
    return command


def power(instance_id, operation, command_id=None):
    command = pb.Command(command_id=command_id or str(uuid.uuid4()), instance_id=instance_id)
    command.power.operation = operation
    return command


def run(coro):
    return asyncio.run(coro)


def started(journal, command):
    """What a previous agent run left of a command it began and never finished."""
    journal.receive(command.command_id, command.instance_id)
    journal.start(command.command_id)


def test_spawn_fetches_verifies_and_boots(setup, driver):
    executor, _, image_id, images, fetched = setup
    command = spawn_command(image_id)
    result = run(executor.execute(command, images))
    assert result.status == pb.COMMAND_STATUS_SUCCEEDED
    assert result.instance.power_state == pb.POWER_STATE_RUNNING
    assert fetched == [image_id]
    assert command.instance_id in driver.list_instances()


def test_a_command_id_runs_at_most_once(setup, driver):
    executor, _, image_id, images, _ = setup
    spawn = spawn_command(image_id)
    first = run(executor.execute(spawn, images))
    stop = power(spawn.instance_id, pb.POWER_OPERATION_STOP)
    run(executor.execute(stop, images))
    driver.start(spawn.instance_id)  # if the stop ran again, this would be undone
    again = run(executor.execute(stop, images))
    assert again.status == pb.COMMAND_STATUS_SUCCEEDED
    assert again.instance.power_state == pb.POWER_STATE_SHUTOFF  # the recorded answer
    assert driver.get_info(spawn.instance_id).power_state.value == "RUNNING"
    assert run(executor.execute(spawn, images)) == first


def test_a_new_spawn_of_an_existing_instance_reports_it_instead_of_booting(setup, driver):
    executor, _, image_id, images, _ = setup
    spawn = spawn_command(image_id)
    run(executor.execute(spawn, images))
    driver.stop(spawn.instance_id, timeout=0)
    replay = spawn_command(image_id, instance_id=spawn.instance_id)
    result = run(executor.execute(replay, images))
    assert result.status == pb.COMMAND_STATUS_SUCCEEDED
    assert result.instance.power_state == pb.POWER_STATE_SHUTOFF


def test_an_unknown_command_is_rejected(setup):
    executor, _, _, images, _ = setup
    result = run(executor.execute(pb.Command(command_id="c1", instance_id="x"), images))
    assert result.status == pb.COMMAND_STATUS_REJECTED
    assert result.error_code == "UNKNOWN_COMMAND"


def test_a_command_for_an_instance_not_on_the_node_fails(setup):
    executor, _, _, images, _ = setup
    result = run(executor.execute(power(str(uuid.uuid4()), pb.POWER_OPERATION_STOP), images))
    assert result.status == pb.COMMAND_STATUS_FAILED
    assert result.error_code == "INSTANCE_NOT_FOUND"


def test_an_image_failing_verification_fails_the_spawn_and_leaves_nothing(
    setup, driver, image_cache, tmp_path
):
    executor, _, image_id, _, _ = setup
    spawn = spawn_command(image_id)
    spawn.spawn.image.os_hash_value = hashlib.sha512(b"other").hexdigest()
    result = run(executor.execute(spawn, images_from({image_id: DISK}, [])))
    assert result.status == pb.COMMAND_STATUS_FAILED and result.error_code == "IMAGE_REJECTED"
    assert spawn.instance_id not in driver.list_instances()
    assert image_cache.get(image_id) is None
    assert not (tmp_path / "instances" / spawn.instance_id).exists()


def test_a_spawn_interrupted_by_an_agent_stop_is_cleaned_up_not_run_again(
    setup, driver, image_cache, tmp_path
):
    _, journal, image_id, images, _ = setup
    spawn = spawn_command(image_id)
    # The previous agent run recorded the start, made the disk, then died.
    started(journal, spawn)
    leftover = tmp_path / "instances" / spawn.instance_id
    leftover.mkdir(parents=True)
    restarted = Executor(
        driver, image_cache, Journal(str(tmp_path / "journal.db"), boot_id="boot-2")
    )
    result = run(restarted.execute(spawn, images))
    assert result.status == pb.COMMAND_STATUS_INTERRUPTED
    assert spawn.instance_id not in driver.list_instances()
    assert not leftover.exists()
    assert run(restarted.execute(spawn, images)) == result


def test_an_interrupted_spawn_that_booted_is_reported_as_done(setup, driver, image_cache, tmp_path):
    executor, journal, image_id, images, _ = setup
    spawn = spawn_command(image_id)
    run(executor.execute(spawn_command(image_id, instance_id=spawn.instance_id), images))
    started(journal, spawn)  # booted, result never written
    result = run(executor.execute(spawn, images))
    assert result.status == pb.COMMAND_STATUS_SUCCEEDED
    assert list(driver.list_instances()).count(spawn.instance_id) == 1


def test_an_interrupted_spawn_whose_guest_never_started_is_cleaned_up(setup, driver, tmp_path):
    """The agent died between defining the domain and starting it: a half-made guest (its
    config drive may be unwritten) is removed, and only then is the spawn interrupted."""
    executor, journal, image_id, images, _ = setup
    spawn = spawn_command(image_id)
    run(executor.execute(spawn_command(image_id, instance_id=spawn.instance_id), images))
    driver.stop(spawn.instance_id, timeout=0)  # defined, not running
    started(journal, spawn)
    result = run(executor.execute(spawn, images))
    assert (result.status, result.error_code) == (pb.COMMAND_STATUS_INTERRUPTED, "INTERRUPTED")
    assert not result.HasField("instance")
    assert spawn.instance_id not in driver.list_instances()
    assert not (tmp_path / "instances" / spawn.instance_id).exists()


def destroy_command(instance_id):
    command = pb.Command(command_id=str(uuid.uuid4()), instance_id=instance_id)
    command.destroy.SetInParent()
    return command


@pytest.mark.parametrize("undefined", [False, True], ids=["guest-left", "guest-gone"])
def test_an_interrupted_destroy_is_finished(setup, driver, image_cache, tmp_path, undefined):
    """The agent was killed mid-destroy, before or after the domain went away: the restarted
    agent finishes the destroy (guest, disks, image reference) and reports it done."""
    executor, journal, image_id, images, _ = setup
    spawn = spawn_command(image_id)
    run(executor.execute(spawn, images))
    destroy = destroy_command(spawn.instance_id)
    started(journal, destroy)
    if undefined:
        driver._guest(spawn.instance_id).power_off()
        driver._guest(spawn.instance_id).undefine()
    restarted = Executor(
        driver, image_cache, Journal(str(tmp_path / "journal.db"), boot_id="boot-2")
    )
    result = run(restarted.execute(destroy, images))
    assert result.status == pb.COMMAND_STATUS_SUCCEEDED
    assert spawn.instance_id not in driver.list_instances()
    assert image_cache.references(image_id) == set()
    assert not (tmp_path / "instances" / spawn.instance_id).exists()


def test_console_output_is_read_every_time(setup, tmp_path):
    executor, _, image_id, images, _ = setup
    spawn = spawn_command(image_id)
    run(executor.execute(spawn, images))
    log = tmp_path / "instances" / spawn.instance_id / "console.log"
    command = pb.Command(command_id="console-1", instance_id=spawn.instance_id)
    command.console_output.max_bytes = 5
    log.write_text("hello world\n")
    first = run(executor.execute(command, images))
    log.write_text("bye now\n")
    second = run(executor.execute(command, images))
    assert (first.console_output, second.console_output) == ("orld\n", " now\n")
    assert first.console_truncated


def test_commands_of_one_instance_run_in_arrival_order(setup, driver):
    executor, _, image_id, images, _ = setup
    spawn = spawn_command(image_id)

    async def scenario():
        return await asyncio.gather(
            executor.execute(spawn, images),
            executor.execute(power(spawn.instance_id, pb.POWER_OPERATION_PAUSE), images),
            executor.execute(power(spawn.instance_id, pb.POWER_OPERATION_UNPAUSE), images),
            executor.execute(power(spawn.instance_id, pb.POWER_OPERATION_STOP), images),
        )

    results = run(scenario())
    assert [r.status for r in results] == [pb.COMMAND_STATUS_SUCCEEDED] * 4
    assert [r.instance.power_state for r in results] == [
        pb.POWER_STATE_RUNNING,
        pb.POWER_STATE_PAUSED,
        pb.POWER_STATE_RUNNING,
        pb.POWER_STATE_SHUTOFF,
    ]


def with_guest_data(command, config_drive=True):
    spawn = command.spawn
    spawn.metadata["role"] = "web"
    spawn.guest.config_drive = config_drive
    spawn.guest.hostname, spawn.guest.project_id = "web-1", "project-1"
    spawn.guest.availability_zone = "zone-a"
    spawn.guest.keys.add(name="alice", type="ssh", public_key="ssh-ed25519 AAAA alice")
    spawn.guest.user_data = b"#!/bin/sh\necho hi\n"
    return command


def test_a_spawn_with_guest_data_boots_with_its_config_drive(setup, driver, tmp_path):
    executor, _, image_id, images, _ = setup
    spawn = with_guest_data(spawn_command(image_id))
    assert run(executor.execute(spawn, images)).status == pb.COMMAND_STATUS_SUCCEEDED
    iso = tmp_path / "instances" / spawn.instance_id / "disk.config"
    domain = ET.fromstring(driver.host.conn.lookupByUUIDString(spawn.instance_id).XMLDesc())
    [cdrom] = domain.findall("devices/disk[@device='cdrom']")
    assert cdrom.find("source").get("file") == str(iso)
    assert cdrom.find("readonly") is not None
    files = read_back.read(iso)
    meta = json.loads(files["openstack/latest/meta_data.json"])
    assert {
        k: meta[k]
        for k in (
            "uuid",
            "name",
            "hostname",
            "project_id",
            "availability_zone",
            "public_keys",
            "keys",
            "meta",
        )
    } == {
        "uuid": spawn.instance_id,
        "name": "vm",
        "hostname": "web-1",
        "project_id": "project-1",
        "availability_zone": "zone-a",
        "public_keys": {"alice": "ssh-ed25519 AAAA alice"},
        "keys": [{"name": "alice", "type": "ssh", "data": "ssh-ed25519 AAAA alice"}],
        "meta": {"role": "web"},
    }
    assert files["openstack/latest/user_data"] == b"#!/bin/sh\necho hi\n"
    run(executor.execute(destroy_command(spawn.instance_id), images))
    assert not iso.exists()


def test_a_spawn_without_a_config_drive_attaches_none(setup, driver, tmp_path):
    executor, _, image_id, images, _ = setup
    spawn = with_guest_data(spawn_command(image_id), config_drive=False)
    assert run(executor.execute(spawn, images)).status == pb.COMMAND_STATUS_SUCCEEDED
    domain = ET.fromstring(driver.host.conn.lookupByUUIDString(spawn.instance_id).XMLDesc())
    assert domain.findall("devices/disk[@device='cdrom']") == []
    assert not (tmp_path / "instances" / spawn.instance_id / "disk.config").exists()


def test_commands_still_queued_when_the_agent_stopped_run_after_the_restart(
    driver, image_cache, tmp_path
):
    """One run slot: the first spawn holds it (its image never arrives), the second only
    waits for it. The agent dies. After the restart the queued spawn runs and boots; only
    the one that had started is interrupted, once what it began is cleaned up."""
    image_id = str(uuid.uuid4())
    first, queued = spawn_command(image_id), spawn_command(image_id)
    arrived = []

    async def stalled(_image_id):
        arrived.append(_image_id)
        await asyncio.Event().wait()
        yield b""

    async def agent_dies():
        journal = Journal(str(tmp_path / "journal.db"), boot_id="boot-1")
        executor = Executor(driver, image_cache, journal, concurrency=1)
        tasks = [asyncio.ensure_future(executor.execute(c, stalled)) for c in (first, queued)]
        for _ in range(200):  # bounded: until the first spawn waits for its image
            if arrived:
                break
            await asyncio.sleep(0.01)
        for task in tasks:  # the process is gone: nothing after this point runs
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        journal.close()

    run(agent_dies())
    assert arrived == [image_id]
    restarted = Executor(
        driver, image_cache, Journal(str(tmp_path / "journal.db"), boot_id="boot-2")
    )
    images = images_from({image_id: DISK}, [])
    again = run(restarted.execute(queued, images))
    assert again.status == pb.COMMAND_STATUS_SUCCEEDED
    assert driver.get_info(queued.instance_id).power_state.value == "RUNNING"
    interrupted = run(restarted.execute(first, images))
    assert interrupted.status == pb.COMMAND_STATUS_INTERRUPTED
    assert first.instance_id not in driver.list_instances()
    assert not (tmp_path / "instances" / first.instance_id).exists()


async def _fetch_through(channel, image_id):
    stub = node_grpc.NodeServiceStub(channel)
    async for response in stub.FetchImage(pb.FetchImageRequest(image_id=image_id)):
        yield response.data


def controller_restarting(data: dict, attempts: list):
    """An image source whose first calls fail as they do while the controller restarts:
    the session's channel is closed, then nothing listens on the controller's port."""

    async def chunks(image_id):
        attempts.append(image_id)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{free_port()}")
        if len(attempts) == 1:
            await channel.close()
        try:
            if len(attempts) <= 2:
                async for chunk in _fetch_through(channel, image_id):
                    yield chunk
            yield data[image_id]
        finally:
            await channel.close()

    return chunks


QUICK = FetchSettings(backoff_initial=0.01, backoff_max=0.05, stall_timeout=5)


def test_a_spawn_fetches_its_image_again_after_the_controller_came_back(
    driver, image_cache, tmp_path
):
    attempts = []
    journal = Journal(str(tmp_path / "journal.db"), boot_id="boot-1")
    executor = Executor(driver, image_cache, journal, fetcher=ImageFetcher(image_cache, QUICK))
    image_id = str(uuid.uuid4())
    spawn = spawn_command(image_id)
    spawn.expires_at.FromSeconds(int(time.time()) + 60)
    result = run(executor.execute(spawn, controller_restarting({image_id: DISK}, attempts)))
    assert result.status == pb.COMMAND_STATUS_SUCCEEDED, result.error_message
    assert attempts == [image_id] * 3
    assert image_cache.references(image_id) == {spawn.instance_id}
    assert os.listdir(tmp_path / "cache" / "tmp") == []  # no broken download kept


def test_an_image_fetch_gives_up_at_the_deadline_with_the_last_failure(
    driver, image_cache, tmp_path
):
    attempts = []

    async def down(image_id):
        attempts.append(image_id)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{free_port()}") as channel:
            async for chunk in _fetch_through(channel, image_id):
                yield chunk

    executor = Executor(
        driver,
        image_cache,
        Journal(str(tmp_path / "j.db"), boot_id="b"),
        fetcher=ImageFetcher(image_cache, QUICK),
    )
    spawn = spawn_command(str(uuid.uuid4()))
    spawn.expires_at.FromSeconds(int(time.time()) + 1)
    result = run(executor.execute(spawn, down))
    assert result.status == pb.COMMAND_STATUS_FAILED
    assert result.error_code == "IMAGE_UNAVAILABLE"
    assert "UNAVAILABLE" in result.error_message and "before the deadline" in result.error_message
    assert len(attempts) > 1
    assert spawn.instance_id not in driver.list_instances()


@pytest.mark.parametrize(
    "code, error_code",
    [
        (grpc.StatusCode.NOT_FOUND, "IMAGE_NOT_FOUND"),
        (grpc.StatusCode.PERMISSION_DENIED, "IMAGE_UNAVAILABLE"),
    ],
)
def test_a_definitive_answer_about_the_image_fails_the_spawn_at_once(
    driver, image_cache, tmp_path, code, error_code
):
    attempts = []

    async def refused(image_id):
        attempts.append(image_id)
        raise grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), "no")
        yield b""  # an async generator, as the agent's source is

    executor = Executor(
        driver,
        image_cache,
        Journal(str(tmp_path / "j.db"), boot_id="b"),
        fetcher=ImageFetcher(image_cache, QUICK),
    )
    spawn = spawn_command(str(uuid.uuid4()))
    spawn.expires_at.FromSeconds(int(time.time()) + 60)
    result = run(executor.execute(spawn, refused))
    assert (result.status, result.error_code) == (pb.COMMAND_STATUS_FAILED, error_code)
    assert len(attempts) == 1


def test_a_checksum_mismatch_is_not_fetched_again(setup, driver):
    executor, _, image_id, _, _ = setup
    fetched = []
    spawn = spawn_command(image_id)
    spawn.spawn.image.os_hash_value = hashlib.sha512(b"other").hexdigest()
    result = run(executor.execute(spawn, images_from({image_id: DISK}, fetched)))
    assert result.error_code == "IMAGE_REJECTED" and fetched == [image_id]
