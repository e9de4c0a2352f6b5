"""Identity benchmark: token issue and validation, and the cost of authentication.

Runs a real controller process and drives it over gRPC on loopback from this process:
  python -m bench.identity_bench [--seconds S]
Prints throughput, p50/p99 latency and the controller's CPU per call at concurrency 1 and 16,
for an authenticated read (GetProject) and ValidateToken beside the controller's
unauthenticated health check (their ratio is what auth costs), token issue, and validation
with the cache off (a second controller, token_cache_seconds = 0). The outer
baseline is a bare grpc.aio server answering health checks (bench/bare_server.py): the
ceiling of the gRPC stack and of this load generator on this machine.
"""

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.common import load, run_for_seconds, start_bare_server, start_controller
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


async def run(seconds: float):
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
                results.append(
                    (
                        await load(
                            f"ValidateToken, c={concurrency}",
                            lambda: identity.ValidateToken(
                                ipb.ValidateTokenRequest(token=first.token), metadata=auth
                            ),
                            concurrency,
                            MAX_CALLS,
                            seconds,
                            pid,
                        ),
                        health_result,
                    )
                )
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
            results.append((await _uncached_validation(seconds), health_result))
            print(
                f"identity benchmark: controller {ctl.address}, SQLite, {seconds:.0f} s per figure"
            )
            for result, baseline in results:
                print(result.line(baseline))
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
    run_for_seconds(run, __doc__)


if __name__ == "__main__":
    main()
