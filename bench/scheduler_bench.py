"""Scheduling benchmark: placement decisions through the real controller.

For each host count N (hosts are compute_node records; no agents), a fresh controller serves
CreateServer calls from a separate client process (so the load generator does not share the
controller's interpreter) at a fixed concurrency. The controller is built exactly as
`stratus-controller` builds itself, in this process, so the scheduler's own figures can be
read from it.

  python -m bench.scheduler_bench [--hosts 10,100,1000] [--creates 5000] [--concurrency 32]
                                  [--postgres | --database-url postgresql://...]

Prints, per N: decisions per second (all creates decided / wall time from the first create
to the last decision), p50/p99 decision latency (select plus claim, as the scheduler
measures it; a server placed in a batch counts from the start of its batch's selection to
the batch's commit), the API's own CreateServer p50/p99, placed and refused counts, and the
overcommit check: every host's allocations against its limits, read back from the database,
and the controller's CPU time per create (this process, all threads: steadier than the rates
when other work shares the machine), beside the load generator's own. The baseline beside
each rate is the scheduler alone (filters and weighers over the same N hosts in memory, no
database), measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import grpc

# 64 servers fit one host: 32 cores x 4.0 / 2 vCPUs, and 128 GiB / 2 GiB of RAM.
HOST = dict(vcpus=32, memory_mb=131072, disk_gb=2000)
FLAVOR = dict(vcpus=2, ram_mb=2048, disk_gb=20)

CONFIG = """[compute]
service_down_time = 86400
"""


def _quantiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return (values[0] * 1000, values[0] * 1000) if values else (0.0, 0.0)
    cuts = statistics.quantiles(values, n=100)
    return cuts[49] * 1000, cuts[98] * 1000


# -- the client process ----------------------------------------------------------------------


def _client(address, token, flavor_id, image_id, creates, concurrency, out):
    from stratus.compute.v1 import compute_service_pb2 as pb
    from stratus.compute.v1 import compute_service_pb2_grpc as pb_grpc

    async def run():
        metadata = (("authorization", f"Bearer {token}"),)
        latencies, failures = [], []
        remaining = creates
        async with grpc.aio.insecure_channel(address) as channel:
            stub = pb_grpc.ComputeServiceStub(channel)

            async def worker():
                nonlocal remaining
                while remaining > 0:
                    remaining -= 1
                    request = pb.CreateServerRequest(
                        server=pb.Server(name="bench", flavor_id=flavor_id, image_id=image_id),
                        request_id=str(uuid.uuid4()),
                    )
                    start = time.perf_counter()
                    try:
                        await stub.CreateServer(request, metadata=metadata)
                    except grpc.aio.AioRpcError as error:
                        failures.append(error.code().name)
                    latencies.append(time.perf_counter() - start)

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, failures

    cpu = time.process_time()
    latencies, failures = asyncio.run(run())
    out.put((latencies, failures, time.process_time() - cpu))


# -- the controller side ---------------------------------------------------------------------


def _select_only_rate(n_hosts: int, seconds: float = 1.0) -> float:
    """Decisions per second of filters and weighers alone over n in-memory hosts."""
    from controller.compute.scheduler import HostState, RequestSpec, Scheduler

    hosts = [
        HostState(
            host=f"h{i}",
            node_id=str(i),
            vcpus_total=HOST["vcpus"],
            memory_mb_total=HOST["memory_mb"],
            disk_gb_total=HOST["disk_gb"],
            supported_instances=(("x86_64", "qemu"),),
        )
        for i in range(n_hosts)
    ]
    scheduler = Scheduler()
    spec = RequestSpec.for_flavor(
        instance_id="x",
        project_id="p",
        vcpus=FLAVOR["vcpus"],
        ram_mb=FLAVOR["ram_mb"],
        root_gb=FLAVOR["disk_gb"],
    )
    count, deadline = 0, time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < deadline:
        scheduler.select_hosts(spec, hosts, limit=scheduler.config.max_attempts)
        count += 1
    return count / (time.perf_counter() - start)


def _add_hosts(db, n: int) -> None:
    from controller.compute.records.models import ComputeNode
    from controller.db.queries import utcnow

    now = utcnow()
    rows = [
        dict(
            id=str(uuid.uuid4()),
            hostname=f"bench-host-{i:04d}",
            availability_zone="nova",
            enabled=True,
            disabled_reason="",
            heartbeat_at=now,
            memory_mb_reserved=0,
            architecture="x86_64",
            hypervisor_type="qemu",
            hypervisor_version="9000000",
            host_ip="",
            created_at=now,
            updated_at=now,
            **HOST,
        )
        for i in range(n)
    ]

    def insert():
        for start in range(0, len(rows), 200):
            ComputeNode.insert_many(rows[start : start + 200]).execute()

    db.call(insert)


def _overcommit_report(db, config) -> tuple[int, int, int]:
    """(hosts checked, hosts over a limit, allocations) from the database itself."""
    import peewee

    from controller.compute.records.models import Allocation, ComputeNode
    from controller.compute.scheduler import capacity

    def check():
        used = {
            r[0]: r[1:]
            for r in Allocation.select(
                Allocation.node_id,
                peewee.fn.SUM(Allocation.vcpus),
                peewee.fn.SUM(Allocation.memory_mb),
                peewee.fn.SUM(Allocation.disk_gb),
                peewee.fn.COUNT(1),
            )
            .group_by(Allocation.node_id)
            .tuples()
        }
        over, total = 0, 0
        for node in ComputeNode.select():
            v, m, d, n = used.get(node.id, (0, 0, 0, 0))
            total += n
            cap = capacity.Capacity(
                node.vcpus,
                node.memory_mb,
                node.disk_gb,
                node.cpu_allocation_ratio or config.cpu_allocation_ratio,
                node.ram_allocation_ratio or config.ram_allocation_ratio,
                node.disk_allocation_ratio or config.disk_allocation_ratio,
                node.memory_mb_reserved,
                v,
                m,
                d,
            )
            if (
                capacity.free_vcpus(cap) < 0
                or capacity.free_memory_mb(cap) < 0
                or capacity.free_disk_gb(cap) < 0
            ):
                over += 1
        return ComputeNode.select().count(), over, total

    return db.call(check)


def _undecided(db) -> int:
    from controller.compute.records import states
    from controller.compute.records.models import Instance

    return db.call(
        lambda: Instance.select().where(Instance.task_state == states.SCHEDULING).count()
    )


def run_one(n_hosts: int, creates: int, concurrency: int, database_url: str) -> dict:
    # Each refusal logs its per-filter reasons; thousands of them would bury the figures.
    logging.getLogger("controller.compute.api.scheduling").setLevel(logging.ERROR)
    from stratus.compute.v1 import compute_service_pb2 as pb
    from stratus.identity.v1 import identity_service_pb2 as ipb
    from tests.integration.compute.compute_support import Compute
    from tests.support.cloud import Cloud
    from tests.support.controller import InProcessController, prepare, write_config

    root = Path(tempfile.mkdtemp(prefix="stratus-sched-bench-"))
    config = write_config(root / "state", database_url, extra=CONFIG)
    prepare(config)
    ctl = InProcessController(config).start()
    cloud = Cloud(ctl.address)
    try:
        app = ctl.app
        _add_hosts(app.db, n_hosts)
        compute = Compute(cloud, images=None)
        flavor = compute.flavor(**FLAVOR)
        image = compute.image()
        admin_project = cloud.identity.ValidateToken(
            ipb.ValidateTokenRequest(token=cloud.admin_token), metadata=cloud.admin
        ).info.project_id
        compute.unlimited(admin_project)
        # one create outside the measurement: warms channels, caches and the host snapshot
        compute.stub.CreateServer(
            pb.CreateServerRequest(
                server=pb.Server(name="warm", flavor_id=flavor.id, image_id=image)
            ),
            metadata=cloud.admin,
        )
        while _undecided(app.db):
            time.sleep(0.01)
        app.compute_placement.stats.reset()

        out = multiprocessing.get_context("spawn").Queue()
        client = multiprocessing.get_context("spawn").Process(
            target=_client,
            args=(ctl.address, cloud.admin_token, flavor.id, image, creates, concurrency, out),
        )
        start, cpu = time.perf_counter(), time.process_time()
        client.start()
        latencies, failures, client_cpu = out.get()
        client.join()
        while _undecided(app.db):
            time.sleep(0.005)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
        stats = app.compute_placement.stats
        durations = list(stats.durations)
        hosts, over, allocations = _overcommit_report(
            app.db, app.compute_placement.scheduler.config
        )
        return dict(
            n=n_hosts,
            elapsed=elapsed,
            decided=stats.placed + stats.refused,
            placed=stats.placed,
            refused=stats.refused,
            lost=stats.lost_races,
            cpu_ms=cpu * 1000 / creates,
            client_cpu_ms=client_cpu * 1000 / creates,
            decision=_quantiles(durations),
            api=_quantiles(latencies),
            failures=failures,
            hosts=hosts,
            over=over,
            allocations=allocations,
            baseline=_select_only_rate(n_hosts),
        )
    finally:
        cloud.close()
        ctl.stop()


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hosts", default="10,100,1000")
    parser.add_argument("--creates", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--database-url", default="", help="default: SQLite in a temporary directory"
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="start a throw-away PostgreSQL server (as the tests do) and use it",
    )
    args = parser.parse_args()
    server = None
    if args.postgres:
        from tests.support.postgres import PostgresServer

        server = PostgresServer().start()
    try:
        _run_all(args, server)
    finally:
        if server is not None:
            server.stop()


def _run_all(args, server):
    engine = (
        "postgresql"
        if server
        else (args.database_url.split(":", 1)[0] if args.database_url else "sqlite")
    )
    print(
        f"scheduler benchmark: {args.creates} creates at concurrency {args.concurrency}, "
        f"{engine}; host {HOST}, flavor {FLAVOR}"
    )
    for n in [int(x) for x in args.hosts.split(",")]:
        url = server.create_database(f"bench_{n}") if server else args.database_url
        r = run_one(n, args.creates, args.concurrency, url)
        rate = r["decided"] / r["elapsed"]
        print(
            f"N={r['n']:>5}: {rate:7.0f} decisions/s  decision p50 {r['decision'][0]:6.2f} ms "
            f"p99 {r['decision'][1]:6.2f} ms  CreateServer p50 {r['api'][0]:6.2f} ms "
            f"p99 {r['api'][1]:6.2f} ms  ratio {rate / r['baseline']:.3f}x of select-only "
            f"({r['baseline']:.0f}/s)"
        )
        print(
            f"         controller CPU {r['cpu_ms']:.2f} ms per create (all its threads); "
            f"the load generator's {r['client_cpu_ms']:.2f} ms (same cores)"
        )
        print(
            f"         placed {r['placed']}, refused (no valid host) {r['refused']}, "
            f"lost races {r['lost']}, API errors {len(r['failures'])}; "
            f"overcommit check: {r['allocations']} allocations on {r['hosts']} hosts, "
            f"{r['over']} hosts over a limit -> {'OK' if r['over'] == 0 else 'OVERCOMMIT'}"
        )


if __name__ == "__main__":
    main()
