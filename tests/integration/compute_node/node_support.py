"""Compute nodes for integration tests: a real agent (driver, image cache, journal, executor)
on its own event loop thread, enrolled with the in-process controller's CA and connected to
its mutual-TLS node listener; and helpers to upload images and drive servers."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
import uuid
from pathlib import Path

import grpc

from compute_node.agent import Agent, AgentSettings
from compute_node.drivers.libvirt.driver import LibvirtConfig, LibvirtDriver
from compute_node.executor import Executor
from compute_node.image_cache import ImageCache
from compute_node.journal import Journal
from compute_node.network.model import PortReport, PortStatus, StatusReport
from compute_node.pki import NodePKI
from controller.compute.records.models import ComputeNode, InstanceAction
from stratus.compute.v1 import compute_service_pb2 as cpb
from stratus.compute.v1 import compute_service_pb2_grpc as cpb_grpc
from stratus.image.v1 import image_service_pb2 as ipb
from stratus.image.v1 import image_service_pb2_grpc as ipb_grpc
from tests.support.cloud import unique

NODE_XML = """<node><cpu><mhz>2400</mhz><model>x86_64</model><active>{vcpus}</active>
<total>{vcpus}</total><nodes>1</nodes><sockets>1</sockets><cores>{vcpus}</cores>
<threads>1</threads></cpu><memory>{kib}</memory></node>"""


def node_listener_address(controller) -> str:
    return f"127.0.0.1:{controller.app.node_listener.port}"


def enroll(controller, host: str, directory: Path) -> NodePKI:
    """The normal way: the node's own key and CSR, a one-time token from the CA."""
    pki = NodePKI(host, directory)
    ca = controller.app.ca
    _, secret = controller.app.db.call(ca.create_enrollment_token, host)
    record = controller.app.db.call(ca.enroll, secret, pki.new_csr())
    pki.install(record.certificate_pem, ca.authority.certificate_pem)
    return pki


class Node:
    """One compute node agent; `start()` returns once it is connected."""

    def __init__(
        self,
        controller,
        directory: Path,
        host: str | None = None,
        *,
        uri: str | None = None,
        vcpus: int = 16,
        memory_mb: int = 32768,
        settings: dict | None = None,
    ):
        self.controller = controller
        self.directory = directory
        self.host = host or unique("node")
        directory.mkdir(parents=True, exist_ok=True)
        if uri is None:
            (directory / "node.xml").write_text(NODE_XML.format(vcpus=vcpus, kib=memory_mb * 1024))
            uri = f"test://{directory / 'node.xml'}"
        self.uri = uri
        self.pki = enroll(controller, self.host, directory / "pki")
        self.settings = settings or {}
        self.driver: LibvirtDriver | None = None
        self.cache = ImageCache(str(directory / "images"))
        self.agent: Agent | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None

    def channel(self) -> grpc.aio.Channel:
        return grpc.aio.secure_channel(
            node_listener_address(self.controller), self.pki.channel_credentials()
        )

    def start(self, timeout: float = 30) -> Node:
        if self.driver is None:  # kept across restarts: a node file URI is one host per open
            self.driver = LibvirtDriver(
                LibvirtConfig(
                    uri=self.uri,
                    instances_path=str(self.directory / "instances"),
                    shutdown_timeout=1,
                    **self.settings,
                ),
                self.cache,
            )
        journal = Journal(str(self.directory / "journal.db"), boot_id=str(uuid.uuid4()))
        self.agent = Agent(
            AgentSettings(host_name=self.host, backoff_initial=0.2, backoff_max=1.0),
            self.driver,
            Executor(self.driver, self.cache, journal),
            self.channel,
        )
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run():
            asyncio.set_event_loop(self._loop)
            self._stop = asyncio.Event()
            ready.set()
            try:
                self._loop.run_until_complete(self.agent.run(self._stop))
            finally:
                journal.close()

        self._thread = threading.Thread(target=run, daemon=True, name=f"agent-{self.host}")
        self._thread.start()
        ready.wait(10)
        self.wait_connected(timeout)
        return self

    def wait_connected(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not self.agent.connected.is_set():
            if time.monotonic() > deadline:
                raise AssertionError(f"node {self.host} did not connect in {timeout} s")
            time.sleep(0.02)

    def stop(self) -> None:
        """The agent stops (as on SIGTERM); guests and the hypervisor connection stay."""
        if self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)
        self._thread = None

    def close(self) -> None:
        self.stop()
        if self.driver is not None:
            for info in self.driver.list_instances().values():
                if info.managed:
                    self.driver.destroy(info.uuid)
            self.driver.close()
            self.driver = None

    @property
    def node_id(self) -> str:
        return self.agent.node_id

    def report_ports(self, statuses: dict[str, PortStatus]) -> None:
        """What the node's network wiring reports, sent on its real stream: on libvirt's
        test driver the agent wires nothing itself."""
        report = StatusReport(0, tuple(PortReport(p, s) for p, s in statuses.items()))
        asyncio.run_coroutine_threadsafe(self.agent._send_port_status(report), self._loop).result(
            10
        )


def put_in_zone(controller, node: Node, zone: str) -> None:
    """The node's host moves to `zone` (the placement sees it at once)."""
    controller.app.db.call(
        lambda: (
            ComputeNode.update(availability_zone=zone)
            .where(ComputeNode.id == node.node_id)
            .execute()
        )
    )
    controller.app.compute_placement.invalidate()


def start_in_zone(controller, directory: Path, zone: str) -> Node:
    """Another host, started and put in `zone`."""
    other = Node(controller, directory).start()
    put_in_zone(controller, other, zone)
    return other


def upload_image(
    cloud,
    data: bytes,
    disk_format: str,
    properties: dict | None = None,
    container_format=ipb.CONTAINER_FORMAT_BARE,
) -> str:
    """A public image with `data`, through the real image service."""
    images = ipb_grpc.ImageServiceStub(cloud.channel)
    image = images.CreateImage(
        ipb.CreateImageRequest(
            image=ipb.Image(
                name=unique("img"),
                disk_format=getattr(ipb, f"DISK_FORMAT_{disk_format.upper()}"),
                container_format=container_format,
                visibility=ipb.IMAGE_VISIBILITY_PUBLIC,
                properties=properties or {},
            )
        ),
        metadata=cloud.admin,
    )
    digest = hashlib.sha512(data).hexdigest()

    def chunks():
        yield ipb.UploadImageDataRequest(
            image_id=image.id, size=len(data), expected_os_hash_value=digest
        )
        for start in range(0, len(data), 1 << 20):
            yield ipb.UploadImageDataRequest(data=data[start : start + (1 << 20)])

    images.UploadImageData(chunks(), metadata=cloud.admin)
    return image.id


class Servers:
    """The compute API as a user drives it: an administrator in a project of its own without
    quotas (the cloud's admin project is shared by every test of the worker)."""

    def __init__(self, cloud):
        self.cloud = cloud
        self.stub = cpb_grpc.ComputeServiceStub(cloud.channel)
        self.tenant = cloud.tenant(role="admin")
        unlimited = ("instances", "cores", "ram_mb")
        self.stub.UpdateQuotas(
            cpb.UpdateQuotasRequest(
                quotas=cpb.Quotas(
                    project_id=self.tenant.project_id,
                    limits=cpb.QuotaValues(**dict.fromkeys(unlimited, -1)),
                ),
                update_mask={"paths": [f"limits.{n}" for n in unlimited]},
            ),
            metadata=cloud.admin,
        )

    def flavor(self, vcpus=1, ram_mb=256, disk_gb=1) -> str:
        return self.stub.CreateFlavor(
            cpb.CreateFlavorRequest(
                flavor=cpb.Flavor(
                    name=unique("flavor"),
                    vcpus=vcpus,
                    ram_mb=ram_mb,
                    disk_gb=disk_gb,
                    is_public=True,
                )
            ),
            metadata=self.cloud.admin,
        ).id

    def create(self, flavor_id: str, image_id: str, zone: str = "", **server) -> str:
        return self.stub.CreateServer(
            cpb.CreateServerRequest(
                server=cpb.Server(
                    name=server.pop("name", unique("vm")),
                    flavor_id=flavor_id,
                    image_id=image_id,
                    availability_zone=zone,
                    **server,
                )
            ),
            metadata=self.tenant.metadata,
        ).id

    def get(self, server_id: str) -> cpb.Server:
        return self.stub.GetServer(cpb.GetServerRequest(id=server_id), metadata=self.cloud.admin)

    def wait(self, server_id: str, predicate, timeout: float = 60, what: str = "") -> cpb.Server:
        deadline = time.monotonic() + timeout
        while True:
            server = self.get(server_id)
            if predicate(server):
                return server
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"server {server_id} not {what} after {timeout} s: "
                    f"{cpb.ServerStatus.Name(server.status)} "
                    f"task={server.task_state} fault={server.fault}"
                )
            time.sleep(0.05)

    def wait_status(self, server_id: str, status, timeout: float = 60) -> cpb.Server:
        return self.wait(
            server_id,
            lambda s: (
                s.status == status
                and s.task_state in (cpb.TASK_STATE_UNSPECIFIED, cpb.TASK_STATE_NONE)
            ),
            timeout,
            cpb.ServerStatus.Name(status),
        )

    def action(self, name: str, server_id: str, **kw):
        request = getattr(cpb, f"{name}ServerRequest")(id=server_id, **kw)
        return getattr(self.stub, f"{name}Server")(request, metadata=self.cloud.admin)

    def delete(self, server_id: str) -> None:
        self.stub.DeleteServer(cpb.DeleteServerRequest(id=server_id), metadata=self.cloud.admin)

    def wait_deleted(self, server_id: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                server = self.get(server_id)
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.NOT_FOUND:
                    return
                raise
            if server.status == cpb.SERVER_STATUS_DELETED:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"server {server_id} not deleted after {timeout} s")
            time.sleep(0.05)


def actions_of(controller, server_id: str) -> list[tuple[str, str]]:
    """(action, result) of the server's instance actions, oldest first."""
    return controller.app.db.call(
        lambda: [
            (a.action, a.result)
            for a in InstanceAction.select()
            .where(InstanceAction.instance_id == server_id)
            .order_by(InstanceAction.id)
        ]
    )
