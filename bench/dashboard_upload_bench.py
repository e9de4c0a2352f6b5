"""Dashboard upload benchmark: an image streamed through `stratus-dashboard` (HTTP PUT, as the
browser's upload form sends it) into the controller's UploadImageData, and the dashboard's
peak memory meanwhile.

Runs a real controller and a real dashboard process, signs in over HTTP (CSRF token and
session cookie as a browser gets them), then uploads --size-mib of data:
  python -m bench.dashboard_upload_bench [--size-mib 1024]
Prints MiB/s through the dashboard, and the dashboard's peak RSS during the upload (its
high-water mark is reset just before) beside its RSS before.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import requests

from bench.common import start_controller
from tests.support.cloud import Cloud
from tests.support.dashboard import DashboardProcess

MIB = 1024 * 1024


def memory_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def signed_in(url: str, tenant) -> tuple[requests.Session, str]:
    session = requests.Session()
    session.get(f"{url}/login", timeout=30).raise_for_status()
    token = session.cookies["csrftoken"]
    reply = session.post(
        f"{url}/login",
        data={
            "csrftoken": token,
            "user": tenant.user_name,
            "password": tenant.password,
            "project": tenant.project_name,
        },
        timeout=30,
    )
    reply.raise_for_status()
    assert reply.url.rstrip("/") == url, reply.url
    return session, token


def body(size: int):
    block = os.urandom(MIB)
    for _ in range(size // MIB):
        yield block


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()
    size = args.size_mib * MIB
    controller = start_controller()
    cloud = Cloud(controller.address)
    dashboard = DashboardProcess(
        Path(tempfile.mkdtemp(prefix="stratus-bench-")), controller.address
    )
    try:
        dashboard.start()
        session, token = signed_in(dashboard.url, cloud.tenant("member"))
        pid = dashboard.proc.pid
        before = memory_kib(pid, "VmRSS")
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        start = time.perf_counter()
        reply = session.put(
            f"{dashboard.url}/images/upload",
            params={"name": "bench", "disk_format": "raw"},
            data=body(size),
            headers={"x-csrftoken": token, "content-type": "application/octet-stream"},
            timeout=3600,
        )
        elapsed = time.perf_counter() - start
        reply.raise_for_status()
        assert reply.json()["status"] == "active", reply.text
        peak = memory_kib(pid, "VmHWM")
        print(
            f"upload through the dashboard: {args.size_mib} MiB in {elapsed:.1f} s = "
            f"{args.size_mib / elapsed:.0f} MiB/s"
        )
        print(f"dashboard RSS: {before / 1024:.0f} MiB before, peak {peak / 1024:.0f} MiB during")
    finally:
        dashboard.stop()
        controller.terminate()
        cloud.close()


if __name__ == "__main__":
    main()
