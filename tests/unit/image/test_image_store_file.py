"""The file store: atomic writes, path confinement, a full disk, crash debris, offset reads."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
import uuid
from pathlib import Path

import pytest

from store_backends import (
    Capability,
    Duplicate,
    InvalidLocation,
    NotFound,
    StoredImage,
    Verifier,
    load_backend,
)
from store_backends.file import FileStore

REPO = str(Path(__file__).resolve().parents[3])
ALIASED = "abcdef01-2345-4678-9abc-def012345678"


@pytest.fixture(params=[False, True], ids=["buffered", "direct"])
def direct_io(request) -> bool:
    return request.param


@pytest.fixture
def store(tmp_path, direct_io):
    return FileStore(str(tmp_path / "images"), direct_io=direct_io)


def new_id() -> str:
    return str(uuid.uuid4())


def chunks_of(data: bytes, size: int = 4096):
    for start in range(0, len(data), size):
        yield data[start : start + size]


def listing(store: FileStore) -> list[str]:
    return sorted(os.listdir(store.directory))


def read_all(store, location, offset=0, chunk_size=None) -> bytes:
    return b"".join(store.get(location, offset, chunk_size))


# --- add and get ----------------------------------------------------------------------------


def test_add_returns_location_size_and_hashes(store):
    data = os.urandom(100_000)
    image_id = new_id()
    stored = store.add(image_id, chunks_of(data))
    assert stored == StoredImage(
        location=(store.directory / image_id).as_uri(),
        size=len(data),
        checksum=hashlib.md5(data).hexdigest(),
        os_hash_value=hashlib.sha512(data).hexdigest(),
        os_hash_algo="sha512",
    )
    assert read_all(store, stored.location) == data
    assert store.get_size(stored.location) == len(data)
    assert store.exists(stored.location)
    assert listing(store) == [image_id]


def test_large_chunks_are_hashed_in_parallel_to_the_same_digests(store):
    data = os.urandom((3 << 20) + 5)
    stored = store.add(new_id(), chunks_of(data, 1 << 20))
    assert (stored.checksum, stored.os_hash_value) == (
        hashlib.md5(data).hexdigest(),
        hashlib.sha512(data).hexdigest(),
    )
    assert read_all(store, stored.location) == data


@pytest.mark.parametrize(
    "size, chunk",
    [(1, 1), (4095, 1000), ((1 << 20) - 1, 65536), (1 << 20, 1 << 20), ((3 << 20) + 7, 333_333)],
)
def test_any_size_in_any_chunks_is_stored_exactly(store, size, chunk):
    """Direct writes go out in whole aligned stages and the tail through the page cache:
    whatever the boundaries, the file holds exactly the bytes sent."""
    data = os.urandom(size)
    stored = store.add(new_id(), chunks_of(data, chunk))
    assert (stored.size, stored.os_hash_value) == (size, hashlib.sha512(data).hexdigest())
    assert Path(store.directory / Path(stored.location).name).read_bytes() == data


def cached(path: Path, offset: int) -> bool:
    """Whether the page at `offset` of the file is in the page cache (a read that must not
    wait for the disk succeeds)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.preadv(fd, [bytearray(4096)], offset, os.RWF_NOWAIT)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_direct_io_leaves_the_page_cache_alone(store, direct_io):
    data = os.urandom(4 << 20)
    stored = store.add(new_id(), chunks_of(data, 1 << 20))
    path = store.directory / Path(stored.location).name
    assert [cached(path, offset) for offset in (0, 1 << 20, (4 << 20) - 4096)] == [
        not direct_io
    ] * 3


def test_digests_follow_the_order_of_large_and_small_chunks(store):
    """Large chunks are hashed in threads that lag behind the write, small ones in the
    caller's: the digests are still those of the bytes in order."""
    sizes = [1 << 20, 10, 1 << 20, 300_000, 5, 2 << 20, 1 << 20, 1 << 20, 1 << 20, 7]
    pieces = [os.urandom(size) for size in sizes]
    data = b"".join(pieces)
    stored = store.add(new_id(), pieces)
    assert (stored.checksum, stored.os_hash_value) == (
        hashlib.md5(data).hexdigest(),
        hashlib.sha512(data).hexdigest(),
    )


def test_hashing_threads_end_with_their_upload(store):
    before = threading.active_count()
    for _ in range(10):
        store.add(new_id(), [os.urandom(1 << 20)] * 2)
    with pytest.raises(ValueError, match="the source failed"):
        store.add(new_id(), fail_after([os.urandom(1 << 20)] * 2))
    deadline = time.monotonic() + 10
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= before


def fail_after(chunks):
    yield from chunks
    raise ValueError("the source failed")


def test_empty_image(store):
    stored = store.add(new_id(), [])
    assert (stored.size, read_all(store, stored.location)) == (0, b"")
    assert stored.os_hash_value == hashlib.sha512(b"").hexdigest()


@pytest.mark.parametrize("offset", [0, 1, 4095, 4096, 99_999, 100_000])
def test_get_from_an_offset(store, offset):
    data = os.urandom(100_000)
    stored = store.add(new_id(), chunks_of(data))
    assert read_all(store, stored.location, offset, chunk_size=4096) == data[offset:]


def test_get_yields_chunks_of_the_asked_size(store):
    stored = store.add(new_id(), chunks_of(bytes(10_000)))
    assert [len(c) for c in store.get(stored.location, 0, 4096)] == [4096, 4096, 1808]


@pytest.mark.parametrize("offset", [-1, 100_001])
def test_get_refuses_an_offset_outside_the_image(store, offset):
    stored = store.add(new_id(), chunks_of(bytes(100_000)))
    with pytest.raises(ValueError, match="outside"):
        store.get(stored.location, offset)


def test_missing_data_is_not_found_at_call_time(store):
    location = store.location_for(new_id())
    with pytest.raises(NotFound):
        store.get(location)  # not deferred to the first next()
    with pytest.raises(NotFound):
        store.get_size(location)
    with pytest.raises(NotFound):
        store.delete(location)
    assert not store.exists(location)


def test_delete(store):
    stored = store.add(new_id(), [b"x" * 10])
    store.delete(stored.location)
    assert listing(store) == []
    with pytest.raises(NotFound):
        store.get(stored.location)


def test_second_add_is_refused_and_keeps_the_first(store):
    image_id = new_id()
    first = store.add(image_id, [b"first"])
    with pytest.raises(Duplicate):
        store.add(image_id, [b"second"])
    assert read_all(store, first.location) == b"first"
    assert listing(store) == [image_id]


def test_concurrent_writers_of_one_id_cannot_overwrite(store):
    image_id = new_id()
    one, two = store.begin(image_id), store.begin(image_id)
    one.write(b"one")
    two.write(b"two")
    location = one.commit().location
    with pytest.raises(Duplicate):
        two.commit()
    assert read_all(store, location) == b"one"
    assert listing(store) == [image_id]


def test_capabilities(store):
    assert store.capabilities & Capability.READ_OFFSET
    assert store.capabilities & Capability.ATOMIC_WRITE


def test_reads_in_constant_memory(store):
    block = bytes(1 << 20)
    tracemalloc.start()
    try:
        stored = store.add(new_id(), (block for _ in range(128)))
        total = sum(len(c) for c in store.get(stored.location))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (stored.size, total) == (128 << 20, 128 << 20)
    assert peak < 4 << 20  # two or three chunks, never the image


# --- atomic write and clean-up --------------------------------------------------------------


def test_data_is_invisible_until_commit(store):
    image_id = new_id()
    upload = store.begin(image_id)
    upload.write(b"partial")
    location = store.location_for(image_id)
    assert not store.exists(location)
    (temp,) = listing(store)
    assert temp.startswith(f".{image_id}.") and temp.endswith(".part")
    upload.commit()
    assert listing(store) == [image_id]


class Refuse(Verifier):
    def __init__(self, at_chunk=None, at_finish=False):
        self.at_chunk, self.at_finish, self.seen = at_chunk, at_finish, 0
        self.error = RuntimeError("refused by verifier")

    def update(self, chunk):
        self.seen += 1
        if self.seen == self.at_chunk:
            raise self.error

    def finish(self, size, checksum, os_hash_value):
        if self.at_finish:
            raise self.error


@pytest.mark.parametrize(
    "refusal",
    [{"at_chunk": 1}, {"at_chunk": 3}, {"at_finish": True}],
    ids=["first-chunk", "third-chunk", "finish"],
)
def test_verifier_refusal_leaves_nothing(store, refusal):
    image_id = new_id()
    verifier = Refuse(**refusal)
    with pytest.raises(RuntimeError) as info:
        store.add(image_id, chunks_of(bytes(20_000)), verifier)
    assert info.value is verifier.error
    assert listing(store) == []


def test_refused_chunk_is_never_written(store):
    class Watch(Verifier):
        def update(self, chunk):
            if chunk == b"evil":
                raise ValueError("evil")
            sizes.append(sum(os.path.getsize(store.directory / n) for n in listing(store)))

    sizes = []
    with pytest.raises(ValueError, match="evil"):
        store.add(new_id(), [b"good", b"evil"], Watch())
    assert sizes == [0]


def test_verifier_finish_sees_size_and_hashes(store):
    seen = {}

    class Record(Verifier):
        def finish(self, size, checksum, os_hash_value):
            seen.update(size=size, checksum=checksum, os_hash_value=os_hash_value)

    stored = store.add(new_id(), [b"abc", b"def"], Record())
    assert seen == {"size": 6, "checksum": stored.checksum, "os_hash_value": stored.os_hash_value}


def test_failing_source_leaves_nothing(store):
    def source():
        yield b"x" * 1000
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        store.add(new_id(), source())
    assert listing(store) == []


def test_upload_left_without_commit_is_removed(store):
    with store.begin(new_id()) as upload:
        upload.write(b"abandoned")
    assert listing(store) == []


def test_killed_writer_leaves_no_image_and_scrub_removes_its_debris(tmp_path):
    """A real crash: the writing process is killed with SIGKILL in the middle of an upload."""
    directory = tmp_path / "images"
    image_id = new_id()
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {REPO!r})
        from store_backends.file import FileStore
        upload = FileStore({str(directory)!r}).begin({image_id!r})
        for _ in range(16):
            upload.write(bytes(65536))
        print("written", flush=True)
        time.sleep(120)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "written"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    store = FileStore(str(directory))
    assert not store.exists(store.location_for(image_id))
    (temp,) = listing(store)
    assert store.scrub() == [str(directory / temp)]
    assert listing(store) == []


def test_scrub_keeps_writes_in_progress_and_recent_debris(store):
    upload = store.begin(new_id())
    upload.write(b"in progress")
    stale = store.directory / f".{new_id()}.abc123.part"
    recent = store.directory / f".{new_id()}.def456.part"
    other = store.directory / ".not-ours"
    for path in (stale, recent, other):
        path.write_bytes(b"x")
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))
    assert store.scrub(older_than=600) == [str(stale)]
    assert store.scrub() == [str(recent)]
    upload.commit()
    assert len(listing(store)) == 2  # the committed image and ".not-ours"


# --- path confinement -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "image_id",
    [
        "../../etc/passwd",
        "",
        "not-a-uuid",
        "/tmp/x",
        ALIASED.upper(),
        "{" + ALIASED + "}",
        ALIASED.replace("-", ""),  # other spellings of one id
    ],
)
def test_image_ids_other_than_canonical_uuids_are_refused(store, image_id):
    with pytest.raises(InvalidLocation):
        store.begin(image_id)
    with pytest.raises(InvalidLocation):
        store.location_for(image_id)
    assert listing(store) == []


def test_locations_outside_the_directory_are_refused(store, tmp_path):
    stored = store.add(new_id(), [b"mine"])
    elsewhere = FileStore(str(tmp_path / "other"))
    (tmp_path / "other" / (name := new_id())).write_bytes(b"secret")
    outside = [
        "file:///etc/passwd",
        elsewhere.location_for(name),
        stored.location.replace(store.directory.name, f"{store.directory.name}/../other"),
        f"{store.directory.as_uri()}/%2e%2e/other/{name}",
        f"{store.directory.as_uri()}/{name}/..",
        stored.location.replace("file://", "http://"),
        stored.location.replace("file://", "file://evil.example"),
        store.directory.as_uri(),
        stored.location + "?x=1",
    ]
    for location in outside:
        for call in (store.get, store.get_size, store.delete):
            with pytest.raises(InvalidLocation):
                call(location)
    assert (tmp_path / "other" / name).read_bytes() == b"secret"
    assert read_all(store, stored.location) == b"mine"


def test_symbolic_link_planted_under_an_image_name_is_not_followed(store, tmp_path):
    target = tmp_path / "secret"
    target.write_bytes(b"secret")
    image_id = new_id()
    (store.directory / image_id).symlink_to(target)
    location = store.location_for(image_id)
    with pytest.raises(InvalidLocation):
        store.get(location)
    with pytest.raises(InvalidLocation):
        store.get_size(location)
    with pytest.raises(Duplicate):
        store.begin(image_id)
    assert target.read_bytes() == b"secret"


# --- a full disk ----------------------------------------------------------------------------


def run_child(directory: Path, image_id: str, direct_io: bool, prelude: str = "") -> dict:
    """Writes 4 MiB through a FileStore in a fresh process; reports what happened as JSON."""
    return textwrap.dedent(f"""
        import json, os, sys
        sys.path.insert(0, {REPO!r})
        {prelude}
        from store_backends import StorageFull
        from store_backends.file import FileStore
        store = FileStore({str(directory)!r}, direct_io={direct_io!r})
        try:
            store.add({image_id!r}, (bytes(65536) for _ in range(64)))
            outcome = "stored"
        except StorageFull as exc:
            outcome = "StorageFull"
        print(json.dumps({{"outcome": outcome, "left": os.listdir({str(directory)!r})}}))
        """)


def test_full_filesystem_is_storage_full_and_leaves_nothing(tmp_path, direct_io):
    """ENOSPC from a real 1 MiB tmpfs, mounted in a private mount namespace."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not available")
    directory = tmp_path / "small"
    directory.mkdir()
    probe = subprocess.run(
        [
            "unshare",
            "-m",
            "--propagation",
            "private",
            "mount",
            "-t",
            "tmpfs",
            "tmpfs",
            str(directory),
        ],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root or user namespaces)")
    script = run_child(directory, new_id(), direct_io)
    result = subprocess.run(
        [
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            'mount -t tmpfs -o size=1m tmpfs "$1" && exec "$2" -c "$3"',
            "sh",
            str(directory),
            sys.executable,
            script,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout) == {"outcome": "StorageFull", "left": []}


def test_file_size_limit_is_storage_full_and_leaves_nothing(tmp_path, direct_io):
    """EFBIG from a real RLIMIT_FSIZE of 1 MiB (SIGXFSZ ignored, so write() fails instead)."""
    directory = tmp_path / "images"
    prelude = (
        "import resource, signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))"
    )
    result = subprocess.run(
        [sys.executable, "-c", run_child(directory, new_id(), direct_io, prelude)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout) == {"outcome": "StorageFull", "left": []}


# --- configuration --------------------------------------------------------------------------


def test_load_backend_by_name(tmp_path):
    store = load_backend({"backend": "file", "directory": str(tmp_path / "d"), "fsync": False})
    assert isinstance(store, FileStore) and store.directory == (tmp_path / "d").resolve()
    assert isinstance(load_backend({"directory": str(tmp_path / "e")}), FileStore)


@pytest.mark.parametrize(
    "config",
    [
        {"backend": "tape"},
        {"backend": "file", "directroy": "/typo"},
    ],
)
def test_load_backend_refuses_unknown_names_and_options(config):
    with pytest.raises(ValueError, match="image store"):
        load_backend(config)
