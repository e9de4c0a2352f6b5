"""A controller and two `stratus-compute` agents as real processes, for killing at a step.

Each agent drives libvirt's test driver behind a private libvirt daemon of its own, so guests
outlive the agent as real ones do; a connection kept open here holds each daemon's host and
records every domain's lifecycle events. `arm` restarts a process with STRATUS_FAULT_AT set
(stratus_common/faults.py), `wait_fault` waits until it killed itself there, `start` brings
it back unarmed. `check` asserts what must hold once everything settled, whatever died when.
"""

from __future__ import annotations

import collections
import os
import signal
import sqlite3
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import grpc
import libvirt

from compute_node.drivers.libvirt.private_daemon import LibvirtDaemon
from stratus.compute.v1 import compute_service_pb2 as cpb
from stratus.node.v1 import node_service_pb2 as npb
from stratus_common.faults import ENVIRONMENT
from tests.e2e.compute_node.e2e_support import ComputeProcess, Controller
from tests.integration.compute_node.node_support import Servers, upload_image
from tests.support.cloud import Cloud, unique

SETTLE = 90  # seconds for every server to leave its transitional state
# Small deadlines, so that a command nobody answers ends within the test.
CONDUCTOR = "spawn_timeout = 45\ncommand_timeout = 45\n"
FINAL = {cpb.SERVER_STATUS_ACTIVE, cpb.SERVER_STATUS_ERROR}
IDLE = (cpb.TASK_STATE_UNSPECIFIED, cpb.TASK_STATE_NONE)


def retrying(call, timeout: float = 60):
    """`call()`, again while the controller is down (UNAVAILABLE), within `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                raise
        time.sleep(0.2)


class Events:
    """Lifecycle events of every domain of one daemon, counted per uuid and kind."""

    _loop_started = False
    _lock = threading.Lock()

    def __init__(self, uri: str):
        Events._run_event_loop()
        self.counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.conn = libvirt.open(uri)
        self.conn.domainEventRegisterAny(
            None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._on_event, None
        )

    @classmethod
    def _run_event_loop(cls) -> None:
        with cls._lock:
            if cls._loop_started:
                return
            libvirt.virEventRegisterDefaultImpl()

            def run():
                while True:
                    libvirt.virEventRunDefaultImpl()

            threading.Thread(target=run, daemon=True, name="libvirt-events").start()
            cls._loop_started = True

    def _on_event(self, _conn, domain, event, _detail, _opaque) -> None:
        self.counts[domain.UUIDString()][event] += 1

    def started(self, uuid_: str) -> int:
        return self.counts[uuid_][libvirt.VIR_DOMAIN_EVENT_STARTED]

    def domains(self) -> dict[str, int]:
        """The domains and their states (one the agent undefines meanwhile is left out)."""
        found = {}
        for domain in self.conn.listAllDomains():
            try:
                found[domain.UUIDString()] = domain.state()[0]
            except libvirt.libvirtError as error:
                if error.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    raise
        return found

    def close(self) -> None:
        self.conn.close()


class Cluster:
    def __init__(
        self, base: Path, database_url: str = "", file_size_limit: int | None = None, nodes: int = 2
    ):
        self.base = base
        self.daemons = [
            LibvirtDaemon(base / f"libvirt-{i}", private_network=True) for i in range(nodes)
        ]
        self.controller = Controller(base / "controller", CONDUCTOR, database_url, file_size_limit)
        self.database_url = database_url or f"sqlite:///{base / 'controller'}/stratus.db"
        self.events: list[Events] = []
        self.nodes: list[ComputeProcess] = []
        self.created: dict[str, str] = {}  # server id -> the request id that created it
        self.deleted: set[str] = set()

    # -- processes -----------------------------------------------------------------------

    def start(self) -> Cluster:
        threads = [threading.Thread(target=d.start) for d in self.daemons]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.events = [Events(f"test+unix:///default?socket={d.socket}") for d in self.daemons]
        self.controller.start()
        self.cloud = Cloud(self.controller.address)
        self.nodes = [
            ComputeProcess(
                self.base / f"node-{i}",
                f"node-{i}.fault.test",
                self.controller,
                self.cloud,
                uri=f"test+unix:///default?socket={d.socket}",
            )
            for i, d in enumerate(self.daemons)
        ]
        for node in self.nodes:
            node.start()
        self.servers = Servers(self.cloud)
        self.flavor = self.servers.flavor(ram_mb=128)
        self.image_id = upload_image(self.cloud, b"\0" * (1 << 20), "raw")
        return self

    def close(self) -> None:
        for node in self.nodes:
            if node.running():
                node.terminate()
        self.controller.stop()
        if hasattr(self, "cloud"):
            self.cloud.close()
        for events in self.events:
            events.close()
        for daemon in self.daemons:
            daemon.stop()

    def arm(self, process, step: str) -> None:
        """Start `process` (the controller or a node) again, to die at `step`."""
        process.kill()
        process.start(env={ENVIRONMENT: step})

    def wait_fault(self, process, step: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        proc = process.process.proc if process is self.controller else process.proc
        log = process.process.log_path if process is self.controller else process.log_path
        while proc.poll() is None:
            assert time.monotonic() < deadline, f"nothing reached {step} in {timeout} s"
            time.sleep(0.05)
        assert f"{ENVIRONMENT}: killed at {step}" in log.read_text(errors="replace"), (
            f"died, but not at {step}: {log.read_text(errors='replace')[-2000:]}"
        )

    def revive(self, process) -> None:
        process.start()

    @staticmethod
    def pause(node: ComputeProcess) -> None:
        os.kill(node.proc.pid, signal.SIGSTOP)

    @staticmethod
    def resume(node: ComputeProcess) -> None:
        os.kill(node.proc.pid, signal.SIGCONT)

    def meanwhile(self, call) -> Future:
        """`call()` in a thread: a client call that may outlive the controller it began on
        (its retries wait for the next one)."""
        pool = ThreadPoolExecutor(1)
        future = pool.submit(call)
        pool.shutdown(wait=False)
        return future

    # -- the API, as a client that retries -----------------------------------------------

    def fresh_image(self) -> str:
        """An image no node has cached yet, so that a spawn fetches it."""
        return upload_image(self.cloud, uuid.uuid4().bytes * (1 << 16), "raw")

    def node_of(self, server_id: str) -> ComputeProcess:
        host = self.get(server_id).host
        return next(node for node in self.nodes if node.host == host)

    def only(self, node: ComputeProcess) -> None:
        """New servers go to `node` alone: the other hosts are disabled."""
        for other in self.nodes:
            if other is not node:
                self._service("Disable", other, reason="fault test")

    def enable_all(self) -> None:
        for node in self.nodes:
            self._service("Enable", node)

    def _service(self, verb: str, node: ComputeProcess, **fields) -> None:
        [(node_id,)] = self.query(f"SELECT id FROM compute_node WHERE hostname = '{node.host}'")
        request = getattr(cpb, f"{verb}ComputeServiceRequest")(id=node_id, **fields)
        retrying(
            lambda: getattr(self.servers.stub, f"{verb}ComputeService")(
                request, metadata=self.cloud.admin
            )
        )

    def create(self, image_id: str | None = None) -> str:
        """A server, created once whatever the controller does meanwhile: the request is
        retried with its request id, as AIP-155 clients do."""
        request_id = str(uuid.uuid4())
        request = cpb.CreateServerRequest(
            request_id=request_id,
            server=cpb.Server(
                name=unique("vm"), flavor_id=self.flavor, image_id=image_id or self.image_id
            ),
        )
        server = retrying(
            lambda: self.servers.stub.CreateServer(request, metadata=self.servers.tenant.metadata)
        )
        self.created[server.id] = request_id
        return server.id

    def delete(self, server_id: str) -> None:
        """Retried as `create` is: NOT_FOUND on a retry means an earlier attempt, whose
        answer the dying controller never sent, deleted it."""
        self.deleted.add(server_id)
        try:
            retrying(
                lambda: self.servers.stub.DeleteServer(
                    cpb.DeleteServerRequest(id=server_id), metadata=self.cloud.admin
                )
            )
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise

    def get(self, server_id: str) -> cpb.Server | None:
        try:
            return retrying(lambda: self.servers.get(server_id))
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise

    def settle(self, server_ids, status=cpb.SERVER_STATUS_ACTIVE, timeout: float = SETTLE):
        """Waits until each server is gone (deleted ones) or idle in a final state; asserts
        the state is `status`."""
        deadline = time.monotonic() + timeout
        pending = set(server_ids)
        last = {}
        while pending and time.monotonic() < deadline:
            for server_id in sorted(pending):
                server = self.get(server_id)
                last[server_id] = server
                if _settled(server, server_id in self.deleted):
                    pending.discard(server_id)
            time.sleep(0.1)
        assert not pending, {s: _describe(last.get(s)) for s in pending}
        for server_id in server_ids:
            if server_id not in self.deleted:
                assert last[server_id].status == status, _describe(last[server_id])

    # -- what must hold ------------------------------------------------------------------

    @staticmethod
    def journal(node: ComputeProcess, sql: str) -> list[tuple]:
        """Rows of the agent's journal (commands it received, their states and results)."""
        journal = sqlite3.connect(node.directory / "state" / "journal.db")
        try:
            return journal.execute(sql).fetchall()
        finally:
            journal.close()

    def results(self, node: ComputeProcess, servers) -> list[npb.CommandResult]:
        """What the agent answered to the commands for `servers`."""
        rows = self.journal(
            node, "SELECT instance_id, result FROM command WHERE result IS NOT NULL"
        )
        return [
            npb.CommandResult.FromString(blob) for server_id, blob in rows if server_id in servers
        ]

    def query(self, sql: str) -> list[tuple]:
        if self.database_url.startswith("sqlite:///"):
            db = sqlite3.connect(self.database_url[len("sqlite:///") :])
            try:
                return db.execute(sql).fetchall()
            finally:
                db.close()
        import psycopg2

        conn = psycopg2.connect(self.database_url)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall()
        finally:
            conn.close()

    def check(self) -> None:
        """No server lost or duplicated, no claim leaked, no guest booted twice, nothing in
        a transitional state, no command left unfinished (controller outbox, node
        journals)."""
        project = self.servers.tenant.project_id
        rows = self.query(
            f"SELECT id, node_id, task_state FROM instance "
            f"WHERE project_id = '{project}' AND deleted_at IS NULL"
        )
        live = {row[0]: row for row in rows}
        assert set(live) == set(self.created) - self.deleted, "servers lost or duplicated"
        assert [r for r in rows if r[2] is not None] == [], "a server is still in a task"
        allocations = dict(self.query("SELECT instance_id, node_id FROM allocation"))
        placed = {sid: row[1] for sid, row in live.items() if row[1]}
        ours = {sid: node for sid, node in allocations.items() if sid in self.created}
        assert ours == placed, "allocations differ from the live placed servers"
        assert (
            self.query(
                "SELECT id, kind, state FROM node_command WHERE state IN ('pending', 'delivered')"
            )
            == []
        )
        hosts = dict(self.query("SELECT id, hostname FROM compute_node"))
        found = [events.domains() for events in self.events]
        for server_id in self.created:
            on = [self.nodes[i].host for i, doms in enumerate(found) if server_id in doms]
            starts = sum(events.started(server_id) for events in self.events)
            if server_id in self.deleted:
                assert on == [], f"deleted server {server_id} still on {on}"
                assert starts <= 1, f"server {server_id} was started {starts} times"
                continue
            assert on == [hosts[live[server_id][1]]], f"server {server_id} on {on}"
            dom_state = next(d[server_id] for d in found if server_id in d)
            assert dom_state == libvirt.VIR_DOMAIN_RUNNING, (server_id, dom_state)
            assert starts == 1, f"server {server_id} was started {starts} times"
        for node in self.nodes:
            unfinished = self.journal(node, "SELECT id, state FROM command WHERE state != 'done'")
            assert unfinished == [], f"{node.host} left commands unfinished: {unfinished}"


def _settled(server, deleted: bool) -> bool:
    if deleted:
        return server is None
    return server is not None and server.status in FINAL and server.task_state in IDLE


def _describe(server) -> str:
    if server is None:
        return "gone"
    return f"{cpb.ServerStatus.Name(server.status)} task={server.task_state} fault={server.fault}"
