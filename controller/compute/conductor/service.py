"""Wires the conductor into the controller.

Uses what the areas set up before it have set on the app: `app.compute_scheduling` (the
compute API's build queue, which places servers) and `app.image_port` (the image area's).
Sets `app.compute_conductor`: the Conductor (the compute API's port: build, act, delete,
console_output). Serves `stratus.node.v1.NodeService` on the mutual-TLS node listener (the
CA area's).
"""
from controller.compute.api.config import ComputeSection
from controller.compute.conductor.conductor import Conductor
from controller.compute.conductor.config import ConductorSection
from controller.compute.conductor.stream import NodeServicer
from stratus.node.v1 import node_service_pb2 as pb


def setup(app):
    settings = app.config.section(ConductorSection)
    if settings.running_deleted_instance_action not in ("log", "reap"):
        raise ValueError("[conductor] running_deleted_instance_action must be log or reap")
    conductor = Conductor(
        app.db, settings, app.compute_scheduling, app.image_port,
        service_down_time=app.config.section(ComputeSection).service_down_time,
        max_message_bytes=app.config.controller.max_message_bytes)
    app.compute_conductor = conductor
    app.add_node_service(NodeServicer(conductor), pb.DESCRIPTOR.services_by_name["NodeService"])
    app.background.append(conductor.sweep_forever)
    app.on_stop.append(conductor.stop)
