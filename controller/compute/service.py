"""Wires the compute area into the controller, in one place and downward: records are plain
modules; the scheduler's Placement over the host records; the conductor's BuildQueue and
Conductor over the placement; the compute API over all of them.

Reads of other areas: `app.image_port` (the image area's port: the only way compute reads
images) and `app.network_port` (the network area's: servers' ports, nodes' network state).
Sets on the app, for operators' tools, benchmarks and tests: `app.compute_placement` (its
snapshot and decision statistics) and `app.compute_conductor` (its sweeps).
Serves `stratus.compute.v1.ComputeService` on the public listener and
`stratus.node.v1.NodeService` on the mutual-TLS node listener (the CA area's).
"""

from __future__ import annotations

import functools

from controller.compute.api import policies, servers
from controller.compute.api.config import ComputeSection
from controller.compute.api.consoles import ConsoleUrls
from controller.compute.api.feed import ChangeFeed
from controller.compute.api.quotas import Quotas
from controller.compute.api.servicer import ComputeServicer
from controller.compute.conductor import gauges, workflow
from controller.compute.conductor.conductor import Conductor
from controller.compute.conductor.config import ConductorSection, ResizeSection
from controller.compute.conductor.placing import BuildQueue
from controller.compute.conductor.stream import NodeServicer
from controller.compute.consoleauth.config import ConsoleSection
from controller.compute.records import lifecycle
from controller.compute.scheduler.config import SchedulerSection
from controller.compute.scheduler.host_records import HostRecords
from controller.compute.scheduler.placement import Placement
from controller.compute.scheduler.selector import Scheduler
from stratus.compute.v1 import compute_service_pb2
from stratus.node.v1 import node_service_pb2


def setup(app):
    settings = app.config.section(ComputeSection)
    conductor_settings = app.config.section(ConductorSection)
    if conductor_settings.running_deleted_instance_action not in ("log", "reap"):
        raise ValueError("[conductor] running_deleted_instance_action must be log or reap")
    scheduler_settings = app.config.section(SchedulerSection)
    scheduler_config = scheduler_settings.scheduler_config()

    host_records = HostRecords(scheduler_config, settings.service_down_time)
    placement = Placement(
        app.db,
        Scheduler(scheduler_config),
        host_records,
        max_age=scheduler_settings.snapshot_max_age,
    )
    images = app.image_port
    network = app.network_port
    builds = BuildQueue(
        app.db,
        placement,
        functools.partial(workflow.spawn_placed, conductor_settings, images, network),
        settings.placement_workers,
    )
    conductor = Conductor(
        app.db,
        conductor_settings,
        builds,
        images,
        network,
        service_down_time=settings.service_down_time,
        max_message_bytes=app.config.controller.max_message_bytes,
        placement=placement,
        resize_settings=app.config.section(ResizeSection),
    )
    quotas = Quotas(app.db, settings.quota_defaults(), servers.count_for_quota)
    feed = ChangeFeed(app.db, settings.watch_interval, app.limits.watch_queue_size)
    console_urls = ConsoleUrls(app.db, app.config.section(ConsoleSection))
    api = ComputeServicer(
        app.db,
        settings,
        quotas,
        conductor,
        placement,
        host_records,
        images.lookup,
        feed,
        app.slots,
        network,
        console_urls,
        create_snapshot=images.create_snapshot,
    )

    network.listeners.append(conductor.wake_all)
    app.db.listen(lifecycle.RELEASED, network.release)
    app.db.listen(lifecycle.MOVED, network.bind)
    app.compute_placement = placement
    app.compute_conductor = conductor
    gauges.watch(conductor)
    app.enforcer.register(policies.RULES)
    app.add_node_service(
        NodeServicer(conductor), node_service_pb2.DESCRIPTOR.services_by_name["NodeService"]
    )
    app.add_public_service(api, compute_service_pb2.DESCRIPTOR.services_by_name["ComputeService"])
    app.background += [
        builds.run,
        api.creates.run,
        conductor.sweep_forever,
        conductor.watch_outbox,
        feed.run,
    ]
    app.on_stop.append(conductor.stop)
