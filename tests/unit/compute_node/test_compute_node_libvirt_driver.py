"""The libvirt driver on libvirt's test driver: test:///default and simulated node files."""

import asyncio
import hashlib
import json
import shutil
import subprocess
import uuid

import libvirt
import pytest

from compute_node.drivers.base import (
    DriverError,
    EventKind,
    EventSubscription,
    ImageFile,
    InstanceExists,
    InstanceNotFound,
    InstanceSpec,
    InvalidSpec,
    InvalidState,
    LifecycleEvent,
    PowerState,
    RebootKind,
)
from compute_node.drivers.libvirt.xml import domain_name

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="no qemu-img")


def spec(root=None, **overrides):
    values = dict(
        uuid=str(uuid.uuid4()),
        name="vm",
        vcpus=2,
        memory_mb=1024,
        disk_gb=1,
        root_disk=ImageFile(image_id=root) if root else None,
    )
    values.update(overrides)
    return InstanceSpec(**values)


def test_spawn_defines_and_starts_a_guest_on_an_overlay(
    driver, cached_raw_image, image_cache, tmp_path
):
    s = spec(root=cached_raw_image, name="web")
    info = driver.spawn(s)
    assert info.power_state is PowerState.RUNNING and info.managed
    assert (info.name, info.vcpus, info.memory_mb) == ("web", 2, 1024)
    disk = tmp_path / "instances" / s.uuid / "disk"
    details = json.loads(
        subprocess.run(
            ["qemu-img", "info", "--output=json", disk], capture_output=True, check=True
        ).stdout
    )
    assert details["format"] == "qcow2"
    assert details["backing-filename"] == image_cache.get(cached_raw_image).path
    assert details["virtual-size"] == 2**30
    assert image_cache.references(cached_raw_image) == {s.uuid}


def test_spawning_an_existing_uuid_touches_nothing(driver, cached_raw_image, image_cache):
    s = spec(root=cached_raw_image)
    driver.spawn(s)
    with pytest.raises(InstanceExists):
        driver.spawn(s)
    assert driver.get_info(s.uuid).power_state is PowerState.RUNNING
    assert image_cache.references(cached_raw_image) == {s.uuid}


def test_failed_spawn_cleans_up_guest_disk_and_cache_references(
    driver, cached_raw_image, image_cache, tmp_path
):
    s = spec(root=cached_raw_image)
    # Another domain already holds the name the instance needs: define fails after the
    # disk was made and the image referenced.
    other = driver.host.conn.defineXML(
        f"<domain type='test'><name>{domain_name(s.uuid)}</name><memory>65536</memory>"
        "<os><type>hvm</type></os></domain>"
    )
    with pytest.raises(DriverError, match="define"):
        driver.spawn(s)
    assert not (tmp_path / "instances" / s.uuid).exists()
    assert image_cache.references(cached_raw_image) == set()
    assert s.uuid not in driver.list_instances()
    assert other.UUIDString() in driver.list_instances()  # not ours: left alone
    other.undefine()


def test_failed_start_undefines_the_partial_guest(
    driver, cached_raw_image, image_cache, tmp_path, monkeypatch
):
    s = spec(root=cached_raw_image)
    from compute_node.drivers.libvirt import guest

    def refuse(self):
        raise guest.DriverError("start failed")

    monkeypatch.setattr(guest.Guest, "start", refuse)
    with pytest.raises(guest.DriverError):
        driver.spawn(s)
    with pytest.raises(libvirt.libvirtError):
        driver.host.conn.lookupByUUIDString(s.uuid)
    assert not (tmp_path / "instances" / s.uuid).exists()
    assert image_cache.references(cached_raw_image) == set()


def test_an_image_not_in_the_cache_is_refused_without_leftovers(driver, tmp_path):
    s = spec(root=str(uuid.uuid4()))
    with pytest.raises(InvalidSpec):
        driver.spawn(s)
    assert not (tmp_path / "instances" / s.uuid).exists()
    assert s.uuid not in driver.list_instances()


def test_an_image_larger_than_the_flavor_disk_is_refused(driver, image_cache, tmp_path):
    base = tmp_path / "big.qcow2"  # 2 GiB virtual, a few hundred KiB on disk
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", base, "2G"], check=True)
    data = base.read_bytes()
    image_id = str(uuid.uuid4())

    async def source():
        yield data

    asyncio.run(
        image_cache.fetch(
            image_id, source(), multihash=hashlib.sha512(data).hexdigest(), disk_format="qcow2"
        )
    )
    too_small = spec(root=image_id, disk_gb=1)
    with pytest.raises(InvalidSpec, match="flavor"):
        driver.spawn(too_small)
    assert image_cache.references(image_id) == set()
    assert not (tmp_path / "instances" / too_small.uuid).exists()
    fits = spec(root=image_id, disk_gb=0)  # 0 keeps the image's own size
    assert driver.spawn(fits).power_state is PowerState.RUNNING


def test_kernel_files_cannot_be_root_disks(driver, image_cache):
    kernel = bytearray(100_000)
    kernel[510:512] = b"\x55\xaa"
    image_id = str(uuid.uuid4())

    async def source():
        yield bytes(kernel)

    asyncio.run(
        image_cache.fetch(
            image_id, source(), multihash=hashlib.sha512(kernel).hexdigest(), disk_format="aki"
        )
    )
    s = spec(root=image_id)
    with pytest.raises(InvalidSpec, match="root disk"):
        driver.spawn(s)
    assert image_cache.references(image_id) == set()
    booted = spec(kernel=ImageFile(image_id=image_id), cmdline="console=ttyS0", disk_gb=0)
    assert driver.spawn(booted).power_state is PowerState.RUNNING
    assert image_cache.references(image_id) == {booted.uuid}


def test_power_actions(driver):
    u = driver.spawn(spec()).uuid
    assert driver.pause(u).power_state is PowerState.PAUSED
    assert driver.pause(u).power_state is PowerState.PAUSED  # idempotent
    with pytest.raises(InvalidState):
        driver.start(u)
    assert driver.unpause(u).power_state is PowerState.RUNNING
    assert driver.unpause(u).power_state is PowerState.RUNNING
    assert driver.suspend(u).power_state is PowerState.SUSPENDED
    assert driver.list_instances()[u].power_state is PowerState.SUSPENDED
    assert driver.resume(u).power_state is PowerState.RUNNING
    assert driver.stop(u).power_state is PowerState.SHUTOFF
    assert driver.stop(u, timeout=0).power_state is PowerState.SHUTOFF
    with pytest.raises(InvalidState):
        driver.suspend(u)
    with pytest.raises(InvalidState):
        driver.reboot(u, RebootKind.HARD)
    assert driver.start(u).power_state is PowerState.RUNNING
    assert driver.start(u).power_state is PowerState.RUNNING
    assert driver.reboot(u, RebootKind.SOFT).power_state is PowerState.RUNNING
    assert driver.reboot(u, RebootKind.HARD).power_state is PowerState.RUNNING
    assert driver.stop(u, timeout=0).power_state is PowerState.SHUTOFF


@pytest.mark.parametrize("network,label", [("user", "user"), ("bridge:br-guests", "br-guests")])
def test_addresses_are_reported_while_the_guest_runs(make_driver, network, label):
    """The test driver hands out an address per interface, as a libvirt network's DHCP
    leases would; a stopped guest reports none, a guest without a NIC none either."""
    driver = make_driver(network=network)
    info = driver.spawn(spec())
    mac = driver.host.conn.lookupByUUIDString(info.uuid).XMLDesc()
    [address] = info.addresses
    assert (address.network, address.version) == (label, 4) and address.address
    assert f"<mac address='{address.mac}'/>" in mac
    assert driver.list_instances()[info.uuid].addresses == info.addresses
    assert driver.stop(info.uuid, timeout=0).addresses == ()
    assert make_driver(network="none").spawn(spec()).addresses == ()


def test_destroy_is_idempotent_and_removes_everything(
    driver, cached_raw_image, image_cache, tmp_path
):
    u = driver.spawn(spec(root=cached_raw_image)).uuid
    driver.destroy(u)
    driver.destroy(u)
    driver.destroy(str(uuid.uuid4()))
    assert u not in driver.list_instances()
    assert not (tmp_path / "instances" / u).exists()
    assert image_cache.references(cached_raw_image) == set()


@pytest.mark.parametrize(
    "action",
    ["stop", "start", "pause", "unpause", "suspend", "resume", "get_info", "console_output"],
)
def test_unknown_instances(driver, action):
    with pytest.raises(InstanceNotFound):
        getattr(driver, action)(str(uuid.uuid4()))


def test_inventory_on_the_default_test_host_reports_foreign_domains(make_driver):
    driver = make_driver("test:///default")
    u = driver.spawn(spec()).uuid
    inventory = driver.list_instances()
    assert inventory[u].managed and inventory[u].power_state is PowerState.RUNNING
    foreign = [i for i in inventory.values() if not i.managed]
    assert foreign and all(i.name == "" for i in foreign)  # libvirt's own "test" domain
    driver.stop(u, timeout=0)
    assert driver.list_instances()[u].power_state is PowerState.SHUTOFF


def test_host_stats_of_a_simulated_host(make_driver, tmp_path, node_uri):
    driver = make_driver(node_uri(tmp_path, vcpus=48, memory_mb=196608))
    stats = driver.host_stats()
    assert (stats.vcpus, stats.memory_mb) == (48, 196608)
    assert stats.hypervisor_type == "TEST" and stats.domain_type == "test"
    assert stats.free_memory_mb is None  # node files cannot say
    assert (stats.vcpus_used, stats.memory_mb_used, stats.running_instances) == (0, 0, 0)
    assert stats.disk_gb > 0 and 0 <= stats.disk_gb_free <= stats.disk_gb
    driver.spawn(spec(vcpus=3, memory_mb=2048))
    stopped = driver.spawn(spec(vcpus=5, memory_mb=512)).uuid
    driver.stop(stopped, timeout=0)
    stats = driver.host_stats()
    assert (stats.vcpus_used, stats.memory_mb_used, stats.running_instances) == (3, 2048, 1)


def test_each_node_file_driver_is_its_own_host(make_driver, tmp_path, node_uri):
    first = make_driver(node_uri(tmp_path))
    u = first.spawn(spec()).uuid
    (tmp_path / "other").mkdir()
    second = make_driver(node_uri(tmp_path / "other"))
    assert u in first.list_instances() and u not in second.list_instances()


def test_console_output_is_the_tail_of_the_serial_log(driver, tmp_path):
    u = driver.spawn(spec()).uuid
    assert driver.console_output(u).text == ""
    log = tmp_path / "instances" / u / "console.log"
    log.write_text("".join(f"line {i}\n" for i in range(1000)))
    out = driver.console_output(u, max_bytes=20)
    assert out.truncated and out.text.endswith("line 999\n") and len(out.text) == 20
    whole = driver.console_output(u)
    assert not whole.truncated and whole.text.startswith("line 0\n")


def test_lifecycle_events_are_delivered_into_the_loop(driver):
    async def scenario():
        subscription = EventSubscription(asyncio.get_running_loop())
        driver.subscribe(subscription)
        u = (await asyncio.to_thread(driver.spawn, spec())).uuid
        for action in ("pause", "unpause", "suspend", "resume", "stop", "destroy"):
            await asyncio.to_thread(getattr(driver, action), u)
        kinds = []
        while EventKind.UNDEFINED not in kinds:
            event = await asyncio.wait_for(subscription.get(), 10)
            if event.uuid == u:
                kinds.append(event.kind)
        driver.unsubscribe(subscription)
        return kinds

    kinds = asyncio.run(scenario())
    assert kinds == [
        EventKind.DEFINED,
        EventKind.STARTED,
        EventKind.PAUSED,
        EventKind.RESUMED,
        EventKind.SUSPENDED,
        EventKind.STARTED,
        EventKind.STOPPED,
        EventKind.UNDEFINED,
    ]


def test_a_full_subscription_counts_lost_events_instead_of_growing():
    async def scenario():
        subscription = EventSubscription(asyncio.get_running_loop(), maxsize=2)
        for _ in range(5):
            subscription.offer(LifecycleEvent("u", EventKind.STARTED, PowerState.RUNNING))
        await asyncio.sleep(0.05)
        return subscription

    subscription = asyncio.run(scenario())
    assert subscription.queue.qsize() == 2 and subscription.lost == 3
