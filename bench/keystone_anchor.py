"""A real OpenStack Keystone on loopback, the identity benchmark's anchor (--anchors).

Installed once into its own virtual environment under the benchmark cache
(`$STRATUS_BENCH_CACHE`, default ~/.cache/stratus-bench), then run by gunicorn with 2 workers:
SQLite, Fernet tokens, caching on (oslo.cache's in-process dictionary backend, so each worker
caches what it validated). Password hashing is Keystone's default, bcrypt (cost 12); Stratus
hashes with scrypt (32 MiB): token validation, what is compared, hashes nothing on either side.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
from pathlib import Path

from bench.glance_anchor import (
    GunicornServer,
    cache_dir,
    ensure_venv,
    free_port,
    wait_until_up,
)

PACKAGES = ["keystone", "gunicorn"]
WORKERS = 2
PASSWORD = "bench-admin-pw"


class Keystone(GunicornServer):
    """A running keystone; `token()` issues one, `validate()` checks one (GET /v3/auth/tokens)."""

    def __init__(self, root: Path):
        env = ensure_venv(cache_dir() / "keystone-venv", PACKAGES, "keystone-manage")
        self.port = free_port()
        conf = root / "keystone.conf"
        root.mkdir(parents=True, exist_ok=True)
        conf.write_text(
            f"""[DEFAULT]
[database]
connection = sqlite:///{root}/keystone.sqlite
[token]
provider = fernet
[fernet_tokens]
key_repository = {root}/fernet-keys
[fernet_receipts]
key_repository = {root}/fernet-receipts
[cache]
enabled = true
backend = oslo_cache.dict
"""
        )
        environ = {**os.environ, "OS_KEYSTONE_CONFIG_FILES": str(conf)}
        environ.pop("PYTHONPATH", None)
        manage = [str(env / "bin" / "keystone-manage"), "--config-file", str(conf)]
        for command in (
            ["db_sync"],
            ["fernet_setup", "--keystone-user", "root", "--keystone-group", "root"],
            ["credential_setup", "--keystone-user", "root", "--keystone-group", "root"],
            ["bootstrap", "--bootstrap-password", PASSWORD],
        ):
            subprocess.run(
                manage + command,
                env=environ,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        self.log = root / "keystone.log"
        # Keystone parses the process's arguments as its own: gunicorn gets none, and reads
        # gunicorn.conf.py from its working directory instead.
        (root / "gunicorn.conf.py").write_text(
            f'wsgi_app = "keystone.wsgi.api:application"\nworkers = {WORKERS}\n'
            f'bind = "127.0.0.1:{self.port}"\n'
        )
        self.proc = subprocess.Popen(
            [str(env / "bin" / "gunicorn")],
            cwd=root,
            env=environ,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        wait_until_up(self, lambda: self._get("/v3", {})[0] == 200)

    def _get(self, path: str, headers: dict) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def token(self) -> str:
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": "admin",
                            "domain": {"id": "default"},
                            "password": PASSWORD,
                        }
                    },
                },
                "scope": {"project": {"name": "admin", "domain": {"id": "default"}}},
            }
        }
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(
                "POST", "/v3/auth/tokens", json.dumps(body), {"Content-Type": "application/json"}
            )
            response = conn.getresponse()
            response.read()
            assert response.status == 201, response.status
            return response.headers["X-Subject-Token"]
        finally:
            conn.close()

    def validator(self, token: str):
        """A blocking call validating `token` (as itself) on a kept-alive connection."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"X-Auth-Token": token, "X-Subject-Token": token}

        def validate() -> None:
            conn.request("GET", "/v3/auth/tokens", headers=headers)
            response = conn.getresponse()
            response.read()
            assert response.status == 200, response.status

        return validate
