"""A full disk under a real controller process: its store is a 4 MiB tmpfs, mounted in a
private mount namespace so nothing on the host changes."""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from stratus.image.v1 import image_service_pb2 as pb
from tests.integration.image.conftest import Images
from tests.support.cloud import Cloud
from tests.support.controller import write_config
from tests.support.errors import raises

REPO = Path(__file__).resolve().parents[3]


def can_mount_tmpfs(directory: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
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
    return probe.returncode == 0


@pytest.fixture
def small_disk_controller(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    if not can_mount_tmpfs(store):
        pytest.skip("cannot mount a tmpfs here (needs root or user namespaces)")
    config = write_config(
        tmp_path,
        f"sqlite:///{tmp_path}/stratus.db",
        extra=f'[image]\nstore = {{ backend = "file", directory = "{store}" }}\n',
    )
    # In a child process: this test process already has its one database.
    subprocess.run(
        [
            sys.executable,
            "-c",
            (
                "import sys; from pathlib import Path; "
                "from tests.support.controller import prepare; prepare(Path(sys.argv[1]))"
            ),
            str(config),
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    log = tmp_path / "controller.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                "unshare",
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                (
                    'mount -t tmpfs -o size=4m tmpfs "$1" && '
                    'exec "$2" -m controller.main --config "$3"'
                ),
                "sh",
                str(store),
                sys.executable,
                str(config),
            ],
            cwd=REPO,
            stdout=out,
            stderr=out,
            env={**os.environ, "STRATUS_LOGGING_LEVEL": "info"},
        )
    try:
        deadline = time.monotonic() + 60
        while not (match := re.search(r"public listener serving.* port=(\d+)", log.read_text())):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        cloud = Cloud(f"127.0.0.1:{match.group(1)}")
        # The store as the controller sees it, through its mount namespace.
        yield cloud, Images(cloud.channel, Path(f"/proc/{proc.pid}/root{store}"))
        cloud.close()
    finally:
        proc.terminate()
        proc.wait(30)


def test_full_store_is_resource_exhausted_and_keeps_nothing(small_disk_controller):
    cloud, images = small_disk_controller
    tenant = cloud.tenant()
    kept_data = os.urandom(1 << 20)
    kept = images.active(tenant, kept_data)
    image = images.create(tenant)
    with raises(grpc.StatusCode.RESOURCE_EXHAUSTED, "STORAGE_FULL"):
        images.upload(tenant, image.id, os.urandom(8 << 20))
    assert images.get(tenant, image.id) == image
    assert sorted(p.name for p in images.store_dir.iterdir()) == [kept.id]
    assert images.download(tenant, kept.id)[1] == kept_data
    assert images.upload(tenant, image.id, os.urandom(1 << 20)).status == pb.IMAGE_STATUS_ACTIVE
