"""End-to-end boot benchmark: servers reaching ACTIVE on real `stratus-compute` processes.

One `stratus-controller` and 4 `stratus-compute` agents (libvirt's test driver, each on a
simulated host of its own), all real processes on loopback. 200 CreateServer calls at
concurrency 32; the figure is servers per second reaching ACTIVE, from the first call to
the last ACTIVE, with p50/p99 time to ACTIVE and how the servers spread over the hosts.

  python -m bench.scheduler_e2e_bench [--servers 200] [--nodes 4] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import collections
import statistics
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from stratus.compute.v1 import compute_service_pb2 as pb
from stratus.compute.v1 import compute_service_pb2_grpc as pb_grpc
from stratus.identity.v1 import identity_service_pb2 as ipb
from tests.e2e.compute_node.e2e_support import ComputeProcess, Controller
from tests.integration.compute_node.node_support import upload_image
from tests.support.cloud import Cloud, unique

DONE = (pb.SERVER_STATUS_ACTIVE, pb.SERVER_STATUS_ERROR)


def _watch(stub, metadata, revision, finished, stop):
    """Records when each server first reports a final status (WatchServers, no polling)."""
    stream = stub.WatchServers(pb.WatchServersRequest(since_revision=revision), metadata=metadata)
    stop.append(stream.cancel)
    try:
        for event in stream:
            server = event.server
            if server.id not in finished and server.status in DONE:
                finished[server.id] = (time.perf_counter(), server.status, server.host)
    except Exception:  # noqa: BLE001 - cancelled at the end
        pass


def _agent(base, i, controller, cloud) -> ComputeProcess:
    while True:
        agent = ComputeProcess(
            base / f"node-{i}",
            f"node-{i}.bench.test",
            controller,
            cloud,
            vcpus=64,
            memory_mb=262144,
        )
        # the harness passes the token as a separate argument: one starting with a dash
        # would read as an option
        if not agent.token.startswith("-"):
            return agent


def run(servers: int, nodes: int, concurrency: int) -> None:
    base = Path(tempfile.mkdtemp(prefix="stratus-e2e-bench-"))
    controller = Controller(base / "controller").start()
    cloud = Cloud(controller.address)
    agents = [_agent(base, i, controller, cloud) for i in range(nodes)]
    try:
        for agent in agents:
            agent.start()
        stub = pb_grpc.ComputeServiceStub(cloud.channel)
        admin = cloud.admin
        project = cloud.identity.ValidateToken(
            ipb.ValidateTokenRequest(token=cloud.admin_token), metadata=admin
        ).info.project_id
        unlimited = pb.QuotaValues(instances=-1, cores=-1, ram_mb=-1)
        stub.UpdateQuotas(
            pb.UpdateQuotasRequest(
                quotas=pb.Quotas(project_id=project, limits=unlimited),
                update_mask={"paths": ["limits.instances", "limits.cores", "limits.ram_mb"]},
            ),
            metadata=admin,
        )
        flavor = stub.CreateFlavor(
            pb.CreateFlavorRequest(
                flavor=pb.Flavor(
                    name=unique("bench"), vcpus=1, ram_mb=64, disk_gb=1, is_public=True
                )
            ),
            metadata=admin,
        )
        image = upload_image(cloud, b"\0" * 65536, "raw")
        finished: dict[str, tuple] = {}
        stop: list = []
        watcher = threading.Thread(
            target=_watch, args=(stub, admin, 0, finished, stop), daemon=True
        )
        watcher.start()
        created: dict[str, float] = {}

        def create(_):
            start = time.perf_counter()
            server = stub.CreateServer(
                pb.CreateServerRequest(
                    server=pb.Server(name="bench", flavor_id=flavor.id, image_id=image),
                    request_id=str(uuid.uuid4()),
                ),
                metadata=admin,
            )
            created[server.id] = start

        t0 = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(create, range(servers)))
        deadline = time.monotonic() + 600
        while any(i not in finished for i in created) and time.monotonic() < deadline:
            time.sleep(0.05)
        for cancel in stop:
            cancel()
        ours = {i: finished[i] for i in created if i in finished}
        active = {i: v for i, v in ours.items() if v[1] == pb.SERVER_STATUS_ACTIVE}
        last = max((v[0] for v in active.values()), default=t0)
        to_active = sorted(v[0] - created[i] for i, v in active.items())
        spread = collections.Counter(v[2] for v in active.values())
        rate = len(active) / (last - t0) if active else 0.0
        p50 = statistics.median(to_active) if to_active else 0.0
        p99 = statistics.quantiles(to_active, n=100)[98] if len(to_active) > 1 else p50
        print(
            f"end-to-end: {servers} creates at concurrency {concurrency} on {nodes} "
            f"test-driver nodes"
        )
        print(
            f"  {len(active)} ACTIVE, {len(ours) - len(active)} ERROR, "
            f"{servers - len(ours)} unfinished; {rate:.1f} servers/s reaching ACTIVE; "
            f"time to ACTIVE p50 {p50 * 1000:.0f} ms p99 {p99 * 1000:.0f} ms"
        )
        print("  per host: " + ", ".join(f"{h} {n}" for h, n in sorted(spread.items())))
    finally:
        for agent in agents:
            if agent.running():
                agent.terminate()
        controller.stop()
        cloud.close()


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--servers", type=int, default=200)
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    run(args.servers, args.nodes, args.concurrency)


if __name__ == "__main__":
    main()
