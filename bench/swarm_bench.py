"""Swarm benchmark: N compute nodes on one controller, each over its own real stream.

Every simulated node is the real node agent (compute_node.agent.Agent with its Executor,
journal and image cache), enrolled with its own key and certificate through EnrollNode, on
its own mutual-TLS channel to the controller's node listener. Only the hypervisor is
simulated: `SimulatedHypervisor`, an in-memory driver whose guests start at once. The nodes
run in --processes worker processes beside one real `stratus-controller` (SQLite) with the
default intervals (heartbeat every 10 s, down after 60 s).

  python -m bench.swarm_bench [--nodes 100,500,1000] [--processes 2] [--idle-seconds 30]
                              [--boots 200]
For each N it prints: time for all N to connect; the controller's CPU while the swarm only
sends heartbeats (share of one core, per heartbeat, per node) beside the same controller's
CPU with no node at all; its RSS per node; servers per second reaching ACTIVE spread over
the swarm; then the controller is stopped and started again, and it prints the time until
every node has reconnected and been reconciled, how many nodes the API showed down meanwhile
(target 0), and how many commands any node ran twice (target 0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc

from bench.common import cpu_seconds
from compute_node import pki as pki_mod
from compute_node.agent import Agent, AgentSettings
from compute_node.drivers.base import (
    Capabilities,
    ComputeDriver,
    ConsoleOutput,
    HostStats,
    InstanceExists,
    InstanceInfo,
    InstanceNotFound,
    InstanceSpec,
    PowerState,
    RebootKind,
)
from compute_node.executor import Executor
from compute_node.image_cache import ImageCache
from compute_node.journal import Journal
from compute_node.main import channel_options
from stratus.ca.v1 import ca_service_pb2 as capb
from stratus.ca.v1 import ca_service_pb2_grpc as capb_grpc
from stratus.compute.v1 import compute_service_pb2 as pb
from stratus.compute.v1 import compute_service_pb2_grpc as pb_grpc
from tests.support.cloud import Cloud
from tests.support.controller import ControllerProcess, prepare, write_config
from tests.support.ports import free_port
from tests.support.procfs import rss

SWARM_TIMEOUT = 900.0


class SimulatedHypervisor(ComputeDriver):
    """The one simulated part: guests are records in memory that start at once. Counts the
    spawns of each instance, so a command run twice shows."""

    capabilities = Capabilities(
        direct_kernel_boot=False,
        pause=True,
        suspend=True,
        soft_reboot=True,
        console_output=False,
        vnc_console=False,
        lifecycle_events=False,
        copy_on_write_disks=False,
    )

    def __init__(self, host: str):
        self.host = host
        self.guests: dict[str, InstanceInfo] = {}
        self.spawns: dict[str, int] = {}

    def _set(self, uuid_: str, state: PowerState) -> InstanceInfo:
        if uuid_ not in self.guests:
            raise InstanceNotFound(uuid_)
        info = self.guests[uuid_]
        self.guests[uuid_] = info = InstanceInfo(
            info.uuid, info.name, state, True, info.vcpus, info.memory_mb
        )
        return info

    def spawn(self, spec: InstanceSpec) -> InstanceInfo:
        self.spawns[spec.uuid] = self.spawns.get(spec.uuid, 0) + 1
        if spec.uuid in self.guests:
            raise InstanceExists(spec.uuid)
        info = InstanceInfo(
            spec.uuid, spec.name, PowerState.RUNNING, True, spec.vcpus, spec.memory_mb
        )
        self.guests[spec.uuid] = info
        return info

    def destroy(self, uuid: str) -> None:
        self.guests.pop(uuid, None)

    def stop(self, uuid: str, timeout: float | None = None) -> InstanceInfo:
        return self._set(uuid, PowerState.SHUTOFF)

    def start(self, uuid: str) -> InstanceInfo:
        return self._set(uuid, PowerState.RUNNING)

    def reboot(self, uuid: str, kind: RebootKind) -> InstanceInfo:
        return self._set(uuid, PowerState.RUNNING)

    def pause(self, uuid: str) -> InstanceInfo:
        return self._set(uuid, PowerState.PAUSED)

    def unpause(self, uuid: str) -> InstanceInfo:
        return self._set(uuid, PowerState.RUNNING)

    def suspend(self, uuid: str) -> InstanceInfo:
        return self._set(uuid, PowerState.SUSPENDED)

    def resume(self, uuid: str) -> InstanceInfo:
        return self._set(uuid, PowerState.RUNNING)

    def get_info(self, uuid: str) -> InstanceInfo:
        if uuid not in self.guests:
            raise InstanceNotFound(uuid)
        return self.guests[uuid]

    def list_instances(self) -> dict[str, InstanceInfo]:
        return dict(self.guests)

    def host_stats(self) -> HostStats:
        running = [g for g in self.guests.values() if g.power_state == PowerState.RUNNING]
        return HostStats(
            hostname=self.host,
            hypervisor_type="Simulated",
            hypervisor_version="1.0.0",
            domain_type="simulated",
            arch="x86_64",
            cpu_model="simulated",
            vcpus=64,
            vcpus_used=sum(g.vcpus for g in running),
            memory_mb=262144,
            memory_mb_used=sum(g.memory_mb for g in running),
            free_memory_mb=None,
            disk_gb=10000,
            disk_gb_free=10000,
            running_instances=len(running),
        )

    def console_output(self, uuid: str, max_bytes: int = 65536) -> ConsoleOutput:
        return ConsoleOutput("", False)

    def subscribe(self, subscription) -> None:
        pass

    def unsubscribe(self, subscription) -> None:
        pass

    def close(self) -> None:
        pass


# -- the swarm's worker processes --------------------------------------------------------------


def _worker(nodes, public, node_address, directory, conn) -> None:
    """Enrolls `nodes` [(host, token)], then on "go" runs their agents; answers "status"."""
    logging.getLogger("compute_node").setLevel(logging.ERROR)  # reconnects are expected here
    # asyncio's complaints about streams cut at the end go to a file, not the report
    Path(directory).mkdir(parents=True, exist_ok=True)
    sys.stderr = open(Path(directory) / f"worker-{os.getpid()}.log", "w")  # noqa: SIM115
    asyncio.run(_swarm(nodes, public, node_address, Path(directory), conn))


async def _swarm(nodes, public, node_address, directory, conn) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    agents: list[Agent] = []
    drivers: list[SimulatedHypervisor] = []
    options = channel_options(4 * 1024 * 1024)
    async with grpc.aio.insecure_channel(public) as channel:
        sem = asyncio.Semaphore(16)

        async def enroll(host, token):
            pki = pki_mod.NodePKI(host, directory / host / "pki")
            async with sem:
                await pki_mod.enroll(pki, channel, token, ca_fingerprint=None)
            return pki

        pkis = await asyncio.gather(*(enroll(h, t) for h, t in nodes))
    for pki, (host, _) in zip(pkis, nodes, strict=True):
        driver = SimulatedHypervisor(host)
        cache = ImageCache(str(directory / host / "images"))
        journal = Journal(str(directory / host / "journal.db"), boot_id=str(uuid.uuid4()))

        def channel(pki=pki):
            return grpc.aio.secure_channel(node_address, pki.channel_credentials(), options=options)

        agents.append(
            Agent(AgentSettings(host_name=host), driver, Executor(driver, cache, journal), channel)
        )
        drivers.append(driver)

    def status():
        return {
            "connected": sum(a.connected.is_set() for a in agents),
            "sessions": [a.sessions for a in agents],
            "spawned": sum(len(d.spawns) for d in drivers),
            "hosts_used": sum(bool(d.spawns) for d in drivers),
            "twice": sum(n > 1 for d in drivers for n in d.spawns.values()),
        }

    go = asyncio.Event()

    def serve():  # the parent's requests, answered from this thread
        while True:
            request = conn.recv()
            if request == "go":
                loop.call_soon_threadsafe(go.set)
                conn.send("ok")
            elif request == "status":
                conn.send(status())
            else:
                loop.call_soon_threadsafe(stop.set)
                return

    conn.send("enrolled")
    threading.Thread(target=serve, daemon=True).start()
    await go.wait()
    await asyncio.gather(*(agent.run(stop) for agent in agents), return_exceptions=True)


# -- the controller and the measurements ---------------------------------------------------------


class Swarm:
    def __init__(self, root: Path, n: int, processes: int):
        self.root, self.n = root, n
        self.public_port, self.node_port = free_port(), free_port()
        config = write_config(
            root / "state",
            f"sqlite:///{root}/state/stratus.db",
            listen=f"127.0.0.1:{self.public_port}",
            extra=f'[ca]\nnode_listen = "127.0.0.1:{self.node_port}"\n'
            "[compute]\nquota_instances = -1\nquota_cores = -1\nquota_ram_mb = -1\n",
        )
        prepare(config, public_url=f"grpc://127.0.0.1:{self.public_port}")
        self.ctl = ControllerProcess(config, root / "controller.log").start()
        self.cloud = Cloud(self.address)
        self.processes = processes
        self.conns: list = []
        self.procs: list = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.public_port}"

    def tokens(self) -> list[tuple[str, str]]:
        ca = capb_grpc.CertificateAuthorityServiceStub(self.cloud.channel)

        def one(i):
            host = f"swarm-{i:05d}.bench.test"
            request = capb.CreateEnrollmentTokenRequest(host_name=host)
            return host, ca.CreateEnrollmentToken(request, metadata=self.cloud.admin).token

        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(one, range(self.n)))

    def enroll(self) -> float:
        tokens = self.tokens()
        start = time.perf_counter()
        context = multiprocessing.get_context("spawn")
        for k in range(self.processes):
            parent, child = context.Pipe()
            proc = context.Process(
                target=_worker,
                args=(
                    tokens[k :: self.processes],
                    self.address,
                    f"127.0.0.1:{self.node_port}",
                    str(self.root / "nodes"),
                    child,
                ),
                daemon=True,
            )
            proc.start()
            self.conns.append(parent)
            self.procs.append(proc)
        for conn in self.conns:
            assert conn.recv() == "enrolled"
        return time.perf_counter() - start

    def go(self) -> None:
        for conn in self.conns:
            conn.send("go")
            assert conn.recv() == "ok"

    def status(self) -> dict:
        total: dict = {"connected": 0, "sessions": [], "spawned": 0, "hosts_used": 0, "twice": 0}
        for conn in self.conns:
            conn.send("status")
            part = conn.recv()
            total["connected"] += part["connected"]
            total["sessions"] += part["sessions"]
            total["spawned"] += part["spawned"]
            total["hosts_used"] += part["hosts_used"]
            total["twice"] += part["twice"]
        return total

    def wait(self, done, what: str, every: float = 0.2, on_poll=None) -> float:
        start = time.perf_counter()
        while time.perf_counter() - start < SWARM_TIMEOUT:
            if on_poll is not None:
                on_poll()
            if done(self.status()):
                return time.perf_counter() - start
            time.sleep(every)
        raise TimeoutError(f"{what}: {self.status()['connected']} of {self.n} connected")

    def services(self) -> list:
        stub = pb_grpc.ComputeServiceStub(self.cloud.channel)
        out, token = [], ""
        while True:
            page = stub.ListComputeServices(
                pb.ListComputeServicesRequest(page_size=1000, page_token=token),
                metadata=self.cloud.admin,
            )
            out += page.services
            if not (token := page.next_page_token):
                return out

    def close(self) -> None:
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.send("stop")
        for proc in self.procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
        self.cloud.close()
        if self.ctl.proc.poll() is None:
            self.ctl.terminate()


def measure_cpu(pid: int, seconds: float) -> float:
    """Share of one core the process used over `seconds`."""
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / seconds


def run(n: int, processes: int, idle: float, boots: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="stratus-swarm-"))
    swarm = Swarm(root, n, processes)
    try:
        pid = swarm.ctl.proc.pid
        empty_cpu = measure_cpu(pid, min(idle, 10.0))
        rss_empty = rss(pid)
        enroll_seconds = swarm.enroll()
        swarm.go()
        connect = swarm.wait(lambda s: s["connected"] == n, "connect")
        time.sleep(10)  # the first heartbeats after the hellos
        busy_cpu = measure_cpu(pid, idle)
        rss_swarm = rss(pid)
        heartbeats = n * idle / 10.0
        print(
            f"swarm of {n} nodes in {processes} processes (load average "
            f"{os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs)"
        )
        print(f"  enrollment (key, CSR, EnrollNode) of all  {enroll_seconds:7.1f} s")
        print(f"  all connected (mutual TLS, hello, welcome) {connect:7.1f} s")
        print(
            f"  controller CPU, heartbeats only          {busy_cpu * 100:6.1f}% of a core"
            f" (target < 25% at 1,000); with no node {empty_cpu * 100:.1f}%;"
            f" {(busy_cpu - empty_cpu) * idle / heartbeats * 1e6:6.0f} us per heartbeat,"
            f" {(busy_cpu - empty_cpu) / n * 1e6:5.1f} us/s per node"
        )
        print(
            f"  controller RSS                           {rss_swarm / 2**20:7.1f} MiB"
            f" ({(rss_swarm - rss_empty) / n / 1024:.0f} KiB per node; {rss_empty / 2**20:.1f}"
            " MiB with no node)"
        )
        if boots:
            print(f"  boots: {boot(swarm, boots)}")
        print(f"  restart: {restart(swarm)}")
    except BaseException:
        print(swarm.ctl.log_path.read_text()[-3000:])
        raise
    finally:
        swarm.close()
        shutil.rmtree(root, ignore_errors=True)


def boot(swarm: Swarm, count: int) -> str:
    """`count` CreateServer calls (concurrency 16) spread over the swarm; servers/s to ACTIVE."""
    from tests.integration.compute_node.node_support import upload_image

    cloud = swarm.cloud
    tenant = cloud.tenant()
    compute = pb_grpc.ComputeServiceStub(cloud.channel)
    flavor = compute.CreateFlavor(
        pb.CreateFlavorRequest(flavor=pb.Flavor(name="swarm", vcpus=1, ram_mb=64, disk_gb=1)),
        metadata=cloud.admin,
    )
    image_id = upload_image(cloud, bytes(1024 * 1024), "raw")
    start = time.perf_counter()

    def create(i):
        return compute.CreateServer(
            pb.CreateServerRequest(
                server=pb.Server(name=f"s{i}", flavor_id=flavor.id, image_id=image_id)
            ),
            metadata=tenant.metadata,
        ).id

    with ThreadPoolExecutor(16) as pool:
        ids = set(pool.map(create, range(count)))
    swarm.wait(lambda s: s["spawned"] >= count, "boots", every=0.5)
    active = 0
    deadline = time.perf_counter() + SWARM_TIMEOUT
    while time.perf_counter() < deadline:
        servers = compute.ListServers(
            pb.ListServersRequest(page_size=1000), metadata=tenant.metadata
        ).servers
        active = sum(s.status == pb.SERVER_STATUS_ACTIVE for s in servers if s.id in ids)
        if active == count:
            break
        time.sleep(0.5)
    seconds = time.perf_counter() - start
    return (
        f"{active} of {count} servers ACTIVE in {seconds:.1f} s: {active / seconds:.1f}/s,"
        f" on {swarm.status()['hosts_used']} hosts"
    )


def restart(swarm: Swarm) -> str:
    """Stops the controller (SIGTERM) and starts it again on the same ports and database:
    every node reconnects (jittered back-off) and is reconciled from its hello."""
    before = swarm.status()
    sessions = before["sessions"]
    swarm.ctl.terminate()
    swarm.ctl.start()
    restarted = time.time()
    swarm.cloud.close()
    swarm.cloud = Cloud(swarm.address)
    down_seen: set[str] = set()
    fresh: set[str] = set()  # hosts recorded (hello, then reconciliation) by the new controller

    def look():
        for service in swarm.services():
            if service.state != pb.SERVICE_STATE_UP:
                down_seen.add(service.host)
            if service.heartbeat_time.ToSeconds() >= int(restarted):
                fresh.add(service.host)

    reconnected = swarm.wait(
        lambda s: (
            all(a > b for a, b in zip(s["sessions"], sessions, strict=True))
            and s["connected"] == swarm.n
            and len(fresh) == swarm.n
        ),
        "reconnect",
        every=1.0,
        on_poll=look,
    )
    look()
    after = swarm.status()
    return (
        f"all {swarm.n} reconnected and reconciled {reconnected:.1f} s after the controller"
        f" was back (target < 60 s); nodes shown down meanwhile: {len(down_seen)} (target 0);"
        f" commands run twice: {after['twice']} (target 0)"
    )


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", default="100,500,1000", help="swarm sizes, comma-separated")
    parser.add_argument("--processes", type=int, default=2, help="worker processes of the swarm")
    parser.add_argument("--idle-seconds", type=float, default=30.0, help="heartbeat-only window")
    parser.add_argument("--boots", type=int, default=200, help="servers booted over the swarm")
    args = parser.parse_args()
    for n in (int(x) for x in args.nodes.split(",")):
        run(n, args.processes, args.idle_seconds, args.boots)


if __name__ == "__main__":
    main()
