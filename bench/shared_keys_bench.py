"""What sharing the token keys through the database costs a validation (docs/adr/0013).

Runs real controller processes on a PostgreSQL that it starts (as the tests do) and drives an
authenticated read (GetProject: one token validation per call) at concurrency 16:
  python -m bench.shared_keys_bench [--seconds S]
Each line is one configuration: the keys in files or in the database ([shared_secrets] store),
the validation cache on (10 s) or off, and for the database how often a cached validation
re-reads the key set's revision (key_check_seconds: 1 s, or 0 = on every call). A validation
that misses the cache always re-reads it: the "cache off" lines show that cost.
"""

import os
import secrets
import tempfile
from pathlib import Path

import grpc

from bench.common import load, run_for_seconds, start_controller
from stratus.identity.v1 import identity_service_pb2 as ipb
from stratus.identity.v1 import identity_service_pb2_grpc as ipb_grpc
from tests.support.controller import ADMIN_PASSWORD
from tests.support.postgres import PostgresServer

MAX_CALLS = 200_000
ISSUE = ipb.IssueTokenRequest(user_name="admin", password=ADMIN_PASSWORD, project_name="admin")
NO_CACHE = "[identity]\ntoken_cache_seconds = 0\n"


def _database_store(key_check_seconds: float) -> str:
    sealing = Path(tempfile.mkdtemp(prefix="stratus-bench-seal-")) / "sealing.key"
    sealing.write_bytes(secrets.token_bytes(48))
    os.chmod(sealing, 0o600)
    return (
        f'[shared_secrets]\nstore = "database"\nsealing_key_file = "{sealing}"\n'
        f"key_check_seconds = {key_check_seconds}\n"
    )


CONFIGURATIONS = [
    ("files, cache on", ""),
    ("database, cache on, key check 1 s", _database_store(1.0)),
    ("database, cache on, key check every call", _database_store(0.0)),
    ("files, cache off", NO_CACHE),
    ("database, cache off", NO_CACHE + _database_store(1.0)),
]


async def _measure(label: str, url: str, config: str, seconds: float):
    ctl = start_controller(config, database_url=url)
    try:
        async with grpc.aio.insecure_channel(ctl.address) as channel:
            identity = ipb_grpc.IdentityServiceStub(channel)
            first = await identity.IssueToken(ISSUE)
            auth = (("authorization", f"Bearer {first.token}"),)
            request = ipb.GetProjectRequest(id=first.info.project_id)
            return await load(
                f"GetProject, {label}, c=16",
                lambda: identity.GetProject(request, metadata=auth),
                16,
                MAX_CALLS,
                seconds,
                ctl.proc.pid,
            )
    finally:
        ctl.terminate()


async def run(seconds: float):
    postgres = PostgresServer().start()
    try:
        results = []
        for i, (label, config) in enumerate(CONFIGURATIONS):
            url = postgres.create_database(f"bench_keys_{i}")
            results.append(await _measure(label, url, config, seconds))
        print(f"shared keys benchmark: PostgreSQL, {seconds:.0f} s per figure")
        for result in results:
            print(result.line(results[0]))
    finally:
        postgres.stop()


def main():
    run_for_seconds(run, __doc__)


if __name__ == "__main__":
    main()
