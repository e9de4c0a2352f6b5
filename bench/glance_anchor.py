"""A real OpenStack Glance on loopback, the image benchmark's anchor.

Installed into a virtual environment of its own under the benchmark cache
(`$STRATUS_BENCH_CACHE`, default ~/.cache/stratus-bench), once; started with gunicorn,
2 workers, the file store on the same disk as Stratus's, SQLite, no Keystone (the
unauthenticated context: no token check on either side of the comparison is heavier than
Stratus's), hashing as configured by default (md5 checksum and sha512 multihash).
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

GLANCE_PACKAGES = ["glance", "gunicorn"]
WORKERS = 2
_RULES = (
    "default",
    "context_is_admin",
    "add_image",
    "upload_image",
    "download_image",
    "get_image",
    "get_images",
    "modify_image",
    "delete_image",
)


def cache_dir() -> Path:
    return Path(os.environ.get("STRATUS_BENCH_CACHE", Path.home() / ".cache" / "stratus-bench"))


def ensure_venv(env: Path, packages: list[str], marker: str) -> Path:
    """The virtual environment `env` holding `packages`, made on first use (`marker` is one
    of the commands they install)."""
    if not (env / "bin" / "gunicorn").exists() or not (env / "bin" / marker).exists():
        env.parent.mkdir(parents=True, exist_ok=True)
        print(f"installing {' '.join(packages)} into {env} (once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
        subprocess.run([str(env / "bin" / "pip"), "install", "-q", *packages], check=True)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(server: GunicornServer, ready, timeout: float = 120) -> None:
    """Polls `ready()` until it holds; stops `server` and raises with its log otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except OSError:
            pass
        time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"{type(server).__name__} did not start: {server.log.read_text()[-2000:]}")


class GunicornServer:
    """An anchor's gunicorn: its master process in `proc`, its output in `log`."""

    proc: subprocess.Popen
    log: Path

    @property
    def pids(self) -> list[int]:
        """gunicorn's master and its workers."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [self.proc.pid, *(int(p) for p in children.read_text().split())]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def http_download(port: int, path: str, chunk: int) -> int:
    """GET a body from loopback into one reused buffer of `chunk` bytes; the bytes received."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    received = 0
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        assert response.status == 200, response.status
        view = memoryview(bytearray(chunk))
        while n := response.readinto(view):
            received += n
    finally:
        conn.close()
    return received


class Glance(GunicornServer):
    """A running glance-api; `upload` and `download` move one image's bytes over HTTP."""

    def __init__(self, root: Path):
        self.env = ensure_venv(cache_dir() / "glance-venv", GLANCE_PACKAGES, "glance-manage")
        self.root = root
        self.port = free_port()
        self.images = root / "images"
        conf = root / "etc"
        for d in (conf, self.images, root / "staging", root / "tasks"):
            d.mkdir(parents=True, exist_ok=True)
        paste = self.env / "etc" / "glance" / "glance-api-paste.ini"
        (conf / "glance-api.conf").write_text(
            f"""[DEFAULT]
enabled_backends = fs:file
worker_self_reference_url = http://127.0.0.1:{self.port}
[database]
connection = sqlite:///{root}/glance.sqlite
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = {self.images}
[os_glance_staging_store]
filesystem_store_datadir = {root}/staging
[os_glance_tasks_store]
filesystem_store_datadir = {root}/tasks
[paste_deploy]
config_file = {paste}
[oslo_policy]
policy_file = {conf}/policy.yaml
"""
        )
        # Every image call allowed: the unauthenticated context carries no project or role.
        (conf / "policy.yaml").write_text("".join(f'"{rule}": "@"\n' for rule in _RULES))
        self._environ = {**os.environ, "OS_GLANCE_CONFIG_DIR": str(conf)}
        self._environ.pop("PYTHONPATH", None)
        subprocess.run(
            [
                str(self.env / "bin" / "glance-manage"),
                "--config-file",
                str(conf / "glance-api.conf"),
                "db_sync",
            ],
            env=self._environ,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.log = root / "glance.log"
        self.proc = subprocess.Popen(
            [
                str(self.env / "bin" / "gunicorn"),
                "--workers",
                str(WORKERS),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--timeout",
                "600",
                "glance.wsgi.api:application",
            ],
            env=self._environ,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        wait_until_up(self, lambda: self._request("GET", "/healthcheck")[0] == 200)

    def _request(self, method: str, path: str, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def create_image(self) -> str:
        import json

        status, body = self._request(
            "POST",
            "/v2/images",
            json.dumps({"name": "bench", "disk_format": "raw", "container_format": "bare"}),
            {"Content-Type": "application/json"},
        )
        assert status == 201, body
        return json.loads(body)["id"]

    def upload(self, image_id: str, path: Path, chunk: int) -> None:
        """PUT the file, streamed in chunks (as glanceclient sends it: chunked encoding)."""

        def chunks():
            with open(path, "rb") as source:
                while data := source.read(chunk):
                    yield data

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        try:
            conn.request(
                "PUT",
                f"/v2/images/{image_id}/file",
                body=chunks(),
                headers={"Content-Type": "application/octet-stream"},
                encode_chunked=True,
            )
            response = conn.getresponse()
            body = response.read()
            assert response.status == 204, (response.status, body)
        finally:
            conn.close()

    def download(self, image_id: str, chunk: int) -> int:
        """GET the image's data, reading it in chunks; the number of bytes received."""
        return http_download(self.port, f"/v2/images/{image_id}/file", chunk)

    def delete_image(self, image_id: str) -> None:
        self._request("DELETE", f"/v2/images/{image_id}")
