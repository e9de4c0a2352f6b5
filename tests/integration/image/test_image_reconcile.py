"""Self-repair of the image service: uploads whose controller died, debris, missing data."""

import datetime
import os
import subprocess
import sys
import time
from pathlib import Path

import grpc

from controller.image import reconcile
from controller.image.models import Image
from stratus.image.v1 import image_service_pb2 as pb
from tests.integration.image.conftest import Paused, wait_for_status
from tests.support.errors import raises

AN_HOUR_AGO = time.time() - 3600
REPO = Path(__file__).resolve().parents[3]


def run_reconcile(controller, check_data=False):
    app = controller.app
    return controller.run(
        reconcile.reconcile(app.db, app.image_store, app.images.settings, check_data)
    )


def pretend_upload_died(db, images, image_id: str) -> list:
    """What a controller killed mid-upload leaves: a SAVING record with an old heartbeat, a
    temporary file, and possibly data already under the image's name."""
    old = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(hours=1)
    db.call(
        lambda: (
            Image.update(status="saving", upload_id="dead-upload", upload_heartbeat_at=old)
            .where(Image.id == image_id)
            .execute()
        )
    )
    debris = [images.store_dir / f".{image_id}.x1y2z3.part", images.store_dir / image_id]
    for path in debris:
        path.write_bytes(b"half an image")
        os.utime(path, (AN_HOUR_AGO, AN_HOUR_AGO))
    return debris


def test_dead_upload_is_given_up_and_its_debris_removed(cloud, images, controller, db):
    tenant = cloud.tenant()
    image = images.create(tenant)
    temp, _final = pretend_upload_died(db, images, image.id)
    report = run_reconcile(controller)
    assert image.id in report.given_up and str(temp) in report.scrubbed
    assert images.get(tenant, image.id).status == pb.IMAGE_STATUS_QUEUED
    assert images.stored_files(image.id) == []
    assert images.upload(tenant, image.id, b"fresh").status == pb.IMAGE_STATUS_ACTIVE


def test_live_upload_is_left_alone(cloud, images, controller):
    tenant = cloud.tenant()
    image = images.create(tenant)
    stream = Paused(image.id)
    call = images.UploadImageData.future(iter(stream), metadata=tenant.metadata)
    try:
        assert stream.sent.wait(30)
        wait_for_status(images, tenant, image.id, pb.IMAGE_STATUS_SAVING)
        report = run_reconcile(controller)
        assert image.id not in report.given_up
        assert not [p for p in report.scrubbed if image.id in p]
    finally:
        stream.release.set()
    assert call.result(timeout=60).status == pb.IMAGE_STATUS_ACTIVE


def test_missing_data_is_reported_and_download_says_so(cloud, images, controller):
    tenant = cloud.tenant()
    image = images.active(tenant)
    (images.store_dir / image.id).unlink()
    assert image.id in run_reconcile(controller, check_data=True).missing
    with raises(grpc.StatusCode.NOT_FOUND, "IMAGE_DATA_MISSING"):
        images.download(tenant, image.id)


def test_manage_command_scrubs_and_reports(cloud, images, controller, db):
    tenant = cloud.tenant()
    dead = images.create(tenant)
    pretend_upload_died(db, images, dead.id)
    lost = images.active(tenant)
    (images.store_dir / lost.id).unlink()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "controller.manage",
            "--config",
            str(controller.config_path),
            "image",
            "scrub",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    assert f"upload given up, image queued again: {dead.id}" in result.stdout
    assert f"data missing: {lost.id}" in result.stdout
    assert images.get(tenant, dead.id).status == pb.IMAGE_STATUS_QUEUED
