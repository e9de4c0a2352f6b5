"""Identity benchmark: token issue and validation, and the cost of authentication.

Runs a real controller process and drives it over gRPC on loopback from this process:
  python -m bench.identity_bench [--seconds S] [--anchors] [--rounds N]
Prints throughput, p50/p99 latency and the controller's CPU per call at concurrency 1 and 16,
for an authenticated read (GetProject) and ValidateToken beside the controller's
unauthenticated health check (their ratio is what auth costs; ValidateToken also beside the
bare server), token issue, and validation
with the cache off (a second controller, token_cache_seconds = 0). The outer
baseline is a bare grpc.aio server answering health checks (bench/bare_server.py): the
ceiling of the gRPC stack and of this load generator on this machine. With --anchors, a real
Keystone (bench/keystone_anchor.py: its own venv, 2 workers, caching on) validates tokens at
concurrency 16 in the same run, and Stratus's ValidateToken is printed as a ratio of it.
With --rounds N, ValidateToken and the bare server are measured alternately N more times, and
the median of the N ratios is printed: steadier than one pair on a shared machine.
"""

import argparse
import asyncio
import shutil
import statistics
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.common import load, start_bare_server, start_controller
from stratus.identity.v1 import identity_service_pb2 as ipb
from stratus.identity.v1 import identity_service_pb2_grpc as ipb_grpc
from tests.support.controller import ADMIN_PASSWORD

MAX_CALLS = 200_000
ISSUE = ipb.IssueTokenRequest(user_name="admin", password=ADMIN_PASSWORD, project_name="admin")


async def _bare_health(address: str, concurrency: int, seconds: float, pid: int):
    async with grpc.aio.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        return await load(
            f"bare grpc.aio health check, c={concurrency}",
            lambda: health.Check(health_pb2.HealthCheckRequest()),
            concurrency,
            MAX_CALLS,
            seconds,
            pid,
        )


async def _alternated(identity, health, token: str, pids: tuple[int, int], rounds: int, seconds):
    """ValidateToken and the bare server's health check at concurrency 16, one after the other
    `rounds` times: on a shared machine the load drifts between two measurements, and the
    median ratio of neighbouring pairs is steadier than one pair's."""
    auth = (("authorization", f"Bearer {token}"),)
    rates, cpus = [], []
    for _ in range(rounds):
        bare = await load(
            "bare",
            lambda: health.Check(health_pb2.HealthCheckRequest()),
            16,
            MAX_CALLS,
            seconds,
            pids[1],
        )
        validate = await load(
            "validate",
            lambda: identity.ValidateToken(ipb.ValidateTokenRequest(token=token), metadata=auth),
            16,
            MAX_CALLS,
            seconds,
            pids[0],
        )
        rates.append(validate.rate / bare.rate)
        cpus.append(validate.server_cpu_us / bare.server_cpu_us)

    def spread(values: list[float]) -> str:
        return f"median {statistics.median(values):4.2f}x ({min(values):4.2f}-{max(values):4.2f}x)"

    return (
        f"ValidateToken / bare grpc.aio health check, c=16, {rounds} alternated rounds: "
        f"rate {spread(rates)}, controller CPU per call {spread(cpus)}"
    )


async def _keystone_validation(seconds: float, concurrency: int = 16):
    """GET /v3/auth/tokens on a real Keystone, one kept-alive connection per caller."""
    from bench.keystone_anchor import Keystone

    root = Path(tempfile.mkdtemp(prefix="stratus-bench-keystone-"))
    keystone = Keystone(root)
    try:
        token = keystone.token()
        idle: asyncio.Queue = asyncio.Queue()
        for _ in range(concurrency):
            idle.put_nowait(keystone.validator(token))
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(concurrency) as pool:

            async def validate():
                call = await idle.get()
                try:
                    await loop.run_in_executor(pool, call)
                finally:
                    idle.put_nowait(call)

            return await load(
                f"Keystone token validation, c={concurrency}",
                validate,
                concurrency,
                MAX_CALLS,
                seconds,
            )
    finally:
        keystone.stop()
        shutil.rmtree(root, ignore_errors=True)


async def run(seconds: float, anchors: bool = False, rounds: int = 0):
    ctl = start_controller()
    bare, bare_address = start_bare_server()
    pid = ctl.proc.pid
    try:
        async with grpc.aio.insecure_channel(ctl.address) as channel:
            identity = ipb_grpc.IdentityServiceStub(channel)
            health = health_pb2_grpc.HealthStub(channel)
            first = await identity.IssueToken(ISSUE)
            auth = (("authorization", f"Bearer {first.token}"),)
            project_id = first.info.project_id
            results = []
            for concurrency in (1, 16):
                bare_result = await _bare_health(bare_address, concurrency, seconds, bare.pid)
                health_result = await load(
                    f"health check, c={concurrency}",
                    lambda: health.Check(health_pb2.HealthCheckRequest()),
                    concurrency,
                    MAX_CALLS,
                    seconds,
                    pid,
                )
                results += [(bare_result, None), (health_result, bare_result)]
                results.append(
                    (
                        await load(
                            f"GetProject (authenticated), c={concurrency}",
                            lambda: identity.GetProject(
                                ipb.GetProjectRequest(id=project_id), metadata=auth
                            ),
                            concurrency,
                            MAX_CALLS,
                            seconds,
                            pid,
                        ),
                        health_result,
                    )
                )
                validate = await load(
                    f"ValidateToken, c={concurrency}",
                    lambda: identity.ValidateToken(
                        ipb.ValidateTokenRequest(token=first.token), metadata=auth
                    ),
                    concurrency,
                    MAX_CALLS,
                    seconds,
                    pid,
                )
                # Beside the health check (what auth costs) and the bare server (the target).
                results += [(validate, health_result), (validate, bare_result)]
                results.append(
                    (
                        await load(
                            f"IssueToken (scrypt), c={concurrency}",
                            lambda: identity.IssueToken(ISSUE),
                            concurrency,
                            2_000,
                            seconds,
                        ),
                        None,
                    )
                )
            alternated = None
            if rounds:
                async with grpc.aio.insecure_channel(bare_address) as bare_channel:
                    alternated = await _alternated(
                        identity,
                        health_pb2_grpc.HealthStub(bare_channel),
                        first.token,
                        (pid, bare.pid),
                        rounds,
                        seconds,
                    )
            results.append((await _uncached_validation(seconds), health_result))
            if anchors:
                keystone = await _keystone_validation(seconds)
                validate_16 = next(r for r, _ in results if r.label == "ValidateToken, c=16")
                results += [(keystone, None), (validate_16, keystone)]
            print(
                f"identity benchmark: controller {ctl.address}, SQLite, {seconds:.0f} s per figure"
            )
            for result, baseline in results:
                print(result.line(baseline))
            if alternated:
                print(alternated)
    finally:
        bare.kill()
        ctl.terminate()


async def _uncached_validation(seconds: float):
    """ValidateToken where the validation cache cannot help (a controller with
    token_cache_seconds = 0): each call validates two tokens against the database, the
    caller's and the one it names."""
    ctl = start_controller("[identity]\ntoken_cache_seconds = 0\n")
    try:
        async with grpc.aio.insecure_channel(ctl.address) as channel:
            identity = ipb_grpc.IdentityServiceStub(channel)
            token = (await identity.IssueToken(ISSUE)).token
            auth = (("authorization", f"Bearer {token}"),)
            return await load(
                "ValidateToken, no cache, c=16",
                lambda: identity.ValidateToken(
                    ipb.ValidateTokenRequest(token=token), metadata=auth
                ),
                16,
                MAX_CALLS,
                seconds,
                ctl.proc.pid,
            )
    finally:
        ctl.terminate()


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each measurement")
    parser.add_argument(
        "--anchors", action="store_true", help="also a real Keystone (installed once) validating"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=0,
        help="also ValidateToken and the bare server alternated this many times (median ratio)",
    )
    args = parser.parse_args()
    asyncio.run(run(args.seconds, args.anchors, args.rounds))


if __name__ == "__main__":
    main()
