import asyncio
import hashlib
import os
import shutil
import subprocess
import uuid

import pytest

from compute_node.image_cache import (
    ImageCache,
    ImageCacheError,
    ImageNotCached,
    ImageRejected,
    file_chunks,
    sha512_file,
)

needs_qemu_img = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="no qemu-img")
RAW = b"\0" * 300_000 + b"stratus" * 1000


def new_id():
    return str(uuid.uuid4())


async def chunks_of(data, size=65536, counter=None):
    for start in range(0, len(data), size):
        if counter is not None:
            counter.append(start)
        await asyncio.sleep(0)
        yield data[start : start + size]


def sha(data):
    return hashlib.sha512(data).hexdigest()


def fetch(cache, image_id, data, disk_format="raw", multihash=None, **kw):
    return asyncio.run(
        cache.fetch(
            image_id,
            chunks_of(data, **kw),
            multihash=multihash or sha(data),
            disk_format=disk_format,
        )
    )


def kept_files(cache):
    return sorted(os.listdir(cache.root))


@pytest.fixture
def cache(tmp_path):
    return ImageCache(str(tmp_path / "cache"))


def test_fetch_verifies_and_stores(cache):
    image_id = new_id()
    cached = fetch(cache, image_id, RAW)
    assert cached.disk_format == "raw" and cached.size == len(RAW)
    assert cached.virtual_size == len(RAW)
    with open(cached.path, "rb") as f:
        assert f.read() == RAW
    assert cache.get(image_id) == cached
    assert cache.image_ids() == [image_id]


def test_checksum_mismatch_keeps_nothing(cache):
    with pytest.raises(ImageRejected, match="checksum"):
        fetch(cache, new_id(), RAW, multihash=sha(b"other"))
    assert kept_files(cache) == ["tmp"]
    assert os.listdir(os.path.join(cache.root, "tmp")) == []


def test_a_failing_source_keeps_nothing(cache):
    async def broken():
        yield RAW[:1000]
        raise ConnectionError("stream lost")

    with pytest.raises(ConnectionError):
        asyncio.run(cache.fetch(new_id(), broken(), multihash=sha(RAW), disk_format="raw"))
    assert kept_files(cache) == ["tmp"] and os.listdir(os.path.join(cache.root, "tmp")) == []


def test_size_limit(tmp_path):
    cache = ImageCache(str(tmp_path / "c"), max_image_size=1000)
    with pytest.raises(ImageRejected, match="larger"):
        fetch(cache, new_id(), RAW)
    assert kept_files(cache) == ["tmp"]


@needs_qemu_img
def test_qcow2_is_recognised_with_its_virtual_size(cache, tmp_path):
    path = tmp_path / "base.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", path, "32M"], check=True)
    cached = fetch(cache, new_id(), path.read_bytes(), disk_format="qcow2")
    assert cached.disk_format == "qcow2" and cached.virtual_size == 32 * 2**20


@needs_qemu_img
@pytest.mark.parametrize("declared", ["qcow2", "raw"])
def test_qcow2_with_a_backing_file_is_refused(cache, tmp_path, declared):
    base, top = tmp_path / "base.qcow2", tmp_path / "top.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", base, "32M"], check=True)
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", top], check=True
    )
    with pytest.raises(ImageRejected):
        fetch(cache, new_id(), top.read_bytes(), disk_format=declared)
    assert kept_files(cache) == ["tmp"]


@needs_qemu_img
def test_declared_format_must_match_content(cache, tmp_path):
    path = tmp_path / "base.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", path, "32M"], check=True)
    with pytest.raises(ImageRejected, match="IMAGE_FORMAT_MISMATCH"):
        fetch(cache, new_id(), path.read_bytes(), disk_format="raw")
    with pytest.raises(ImageRejected, match="IMAGE_FORMAT_MISMATCH"):
        fetch(cache, new_id(), RAW, disk_format="qcow2")


def test_a_kernel_with_a_boot_sector_signature_is_a_boot_file(cache):
    kernel = bytearray(200_000)
    kernel[510:512] = b"\x55\xaa"
    cached = fetch(cache, new_id(), bytes(kernel), disk_format="aki")
    assert cached.disk_format == "aki"


def test_formats_the_node_does_not_boot_are_refused(tmp_path):
    cache = ImageCache(str(tmp_path / "c"), allowed_formats=frozenset({"qcow2"}))
    with pytest.raises(ImageRejected, match="does not boot"):
        fetch(cache, new_id(), RAW)


def test_concurrent_fetches_download_once(cache):
    image_id = new_id()
    pulled = []

    async def both():
        return await asyncio.gather(
            *[
                cache.fetch(
                    image_id, chunks_of(RAW, counter=pulled), multihash=sha(RAW), disk_format="raw"
                )
                for _ in range(3)
            ]
        )

    results = asyncio.run(both())
    assert len({r.path for r in results}) == 1
    assert len(pulled) == len(range(0, len(RAW), 65536))


def test_cached_with_another_checksum_is_refused(cache):
    image_id = new_id()
    fetch(cache, image_id, RAW)
    with pytest.raises(ImageRejected, match="another checksum"):
        fetch(cache, image_id, RAW + b"x")


def test_image_ids_must_be_uuids(cache):
    with pytest.raises(ImageCacheError):
        fetch(cache, "../../etc", RAW)
    with pytest.raises(ImageCacheError):
        cache.acquire("../x", new_id())


def test_references_survive_a_restart_and_release_is_idempotent(cache):
    image_id, a, b = new_id(), new_id(), new_id()
    fetch(cache, image_id, RAW)
    assert cache.acquire(image_id, a).path == cache.get(image_id).path
    cache.acquire(image_id, b)
    reopened = ImageCache(cache.root)
    assert reopened.references(image_id) == {a, b}
    reopened.release(image_id, a)
    reopened.release(image_id, a)
    assert reopened.references(image_id) == {b}
    assert reopened.release_instance(b) == [image_id]
    assert reopened.references(image_id) == set()


def test_acquire_of_an_image_not_cached(cache):
    with pytest.raises(ImageNotCached):
        cache.acquire(new_id(), new_id())


def test_prune_removes_only_unreferenced_images_unused_long_enough(tmp_path):
    now = [1_000_000.0]
    cache = ImageCache(str(tmp_path / "c"), max_unused_age=3600, clock=lambda: now[0])
    used, idle, recent, instance = new_id(), new_id(), new_id(), new_id()
    for image_id in (used, idle):
        fetch(cache, image_id, RAW)
    cache.acquire(used, instance)
    now[0] += 3000
    fetch(cache, recent, RAW)
    assert cache.prune() == []
    now[0] += 700
    assert cache.prune() == [idle]
    assert sorted(cache.image_ids()) == sorted([used, recent])
    cache.release(used, instance)  # released now: its clock starts again
    now[0] += 3000
    assert cache.prune() == [recent]
    now[0] += 600
    assert cache.prune() == [used]
    assert cache.image_ids() == []


def test_file_source_helpers(cache, tmp_path):
    path = tmp_path / "img"
    path.write_bytes(RAW)
    image_id = new_id()
    asyncio.run(
        cache.fetch(
            image_id, file_chunks(str(path), 4096), multihash=sha512_file(path), disk_format="raw"
        )
    )
    assert cache.get(image_id).size == len(RAW)
