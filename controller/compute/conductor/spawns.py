"""What a server's spawn command carries: its flavor's resources, the images it boots from, its
metadata, and what the guest learns of itself (host name, project, zone, key pair, user data).

Read in the transaction that placed the servers (one statement for all of them, each image
once), so it runs in every placement's claim: the statements are rendered once per count.
"""

from __future__ import annotations

import functools
import json
import re
from typing import NamedTuple

from controller.compute.conductor import commands, images
from controller.compute.records.models import ComputeNode, Instance, InstanceAction
from controller.db.prepared import Param, Prepared
from controller.image.port import BootImages, ImagePort
from controller.network import node_wire
from controller.network.port import NetworkPort

MAX_HOSTNAME = 63
_NOT_IN_HOSTNAME = re.compile(r"[^a-z0-9-]")


class Spawn(NamedTuple):
    """A spawn for the outbox: outbox.command(*spawn, timeout)."""

    node_id: str
    instance_id: str
    body: commands.Body
    request_id: str


def hostname(name: str, instance_id: str) -> str:
    """The guest's host name, from the server's name as Nova derives it: lower case, every
    character a host name cannot hold made '-', none at either end, at most 63 characters;
    `server-<id>` when nothing is left."""
    cut = _NOT_IN_HOSTNAME.sub("-", name.lower()).strip("-")[:MAX_HOSTNAME].rstrip("-")
    return cut or f"server-{instance_id}"


def _ids(count: int) -> list[Param]:
    return [Param(f"id{n}") for n in range(count)]


def _bind(ids) -> dict[str, str]:
    return {f"id{n}": value for n, value in enumerate(ids)}


class _Server(NamedTuple):
    """A row of _servers, as the driver returns it."""

    id: str
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    image_id: str
    metadata: str  # JSON
    config_drive: bool | int  # as the engine stores a boolean
    project_id: str
    availability_zone: str
    key_name: str
    key_data: str
    user_data: bytes | memoryview | None
    shelved_image_id: str | None  # its saved disk, when it is being unshelved
    request_id: str | None  # of its latest action (its create's)


@functools.lru_cache(maxsize=32)
def _servers(count: int) -> Prepared:
    """What the spawns of `count` servers read of them: a _Server each."""

    def build():
        latest = (
            InstanceAction.select(InstanceAction.request_id)
            .where(InstanceAction.instance_id == Instance.id)
            .order_by(InstanceAction.id.desc())
            .limit(1)
        )
        return Instance.select(
            Instance.id,
            Instance.name,
            Instance.vcpus,
            Instance.ram_mb,
            Instance.disk_gb,
            Instance.image_id,
            Instance.metadata,
            Instance.config_drive,
            Instance.project_id,
            Instance.availability_zone,
            Instance.key_name,
            Instance.key_data,
            Instance.user_data,
            Instance.shelved_image_id,
            latest,
        ).where(Instance.id.in_(_ids(count)))

    return Prepared(build)


@functools.lru_cache(maxsize=32)
def _zones(count: int) -> Prepared:
    return Prepared(
        lambda: ComputeNode.select(ComputeNode.id, ComputeNode.availability_zone).where(
            ComputeNode.id.in_(_ids(count))
        )
    )


def _host_zones(servers: dict[str, _Server], placed: list[tuple[str, str]]) -> dict[str, str]:
    """The zones of the hosts of servers that asked for none: the guest is told its host's
    zone, as Nova records it on such a server when it is scheduled."""
    nodes = sorted(
        {node_id for instance_id, node_id in placed if not servers[instance_id].availability_zone}
    )
    if not nodes:
        return {}
    return dict(_zones(len(nodes)).execute(**_bind(nodes)).fetchall())


def _bind_ports(network: NetworkPort, placed: list[tuple[str, str]]) -> dict[str, list]:
    """The servers' ports, bound to their hosts, as each spawn carries them."""
    nodes = sorted({node_id for _, node_id in placed})
    hosts = dict(
        ComputeNode.select(ComputeNode.id, ComputeNode.hostname)
        .where(ComputeNode.id.in_(nodes))
        .tuples()
    )
    bound = network.bind([(i, n, hosts.get(n, "")) for i, n in placed])
    return {i: [node_wire.node_port(w) for w in wirings] for i, wirings in bound.items()}


def spawns(
    port: ImagePort,
    network: NetworkPort,
    placed: list[tuple[str, str]],
    boot_from: dict[str, str] | None = None,
) -> list[Spawn]:
    """The spawns of servers, (instance_id, node_id) each, whose rows the caller holds;
    `boot_from` names another image than the server's own for some (a resize's disk)."""
    ids = [instance_id for instance_id, _ in placed]
    servers = {
        row[0]: _Server._make(row) for row in _servers(len(ids)).execute(**_bind(ids)).fetchall()
    }
    zones = _host_zones(servers, placed)
    ports = _bind_ports(network, placed)
    boots: dict[str, BootImages] = {}
    found = []
    for instance_id, node_id in placed:
        server = servers[instance_id]
        image_id = (boot_from or {}).get(instance_id) or server.shelved_image_id or server.image_id
        if image_id not in boots:
            boots[image_id] = images.boot_images(port, instance_id, image_id)
        guest = commands.Guest(
            config_drive=bool(server.config_drive),
            hostname=hostname(server.name, instance_id),
            project_id=server.project_id,
            availability_zone=server.availability_zone or zones.get(node_id, ""),
            key_name=server.key_name,
            public_key=server.key_data,
            user_data=bytes(server.user_data or b""),
        )
        body = commands.spawn(
            server.name,
            server.vcpus,
            server.ram_mb,
            server.disk_gb,
            boots[image_id],
            json.loads(server.metadata),
            guest,
            ports.get(instance_id, []),
        )
        found.append(Spawn(node_id, instance_id, body, server.request_id or ""))
    return found
