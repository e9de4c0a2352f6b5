"""Wires the compute API and the scheduler into the controller.

Sets on the app:
  app.compute_placement    scheduler.placement.Placement (snapshot, decisions, stats)
  app.compute_scheduling   api.scheduling.BuildQueue: `await schedule(instance_id, tried_hosts)`
  app.compute_host_records scheduler.host_records.HostRecords (is_up, load)
Uses, when other areas set them (docs/dev/compute-contract.md):
  app.compute_conductor    build/act/delete/console_output (api/conductor_port.py); without
                           it servers are placed and claimed but not run
  app.image_lookup         (image_id, project_id, is_admin) -> images.ImageInfo | None, called
                           in a database worker
"""
from controller.compute.api import policies, servers
from controller.compute.api.conductor_port import NoConductor
from controller.compute.api.config import ComputeSection, SchedulerSection
from controller.compute.api.quotas import Quotas
from controller.compute.api.scheduling import BuildQueue
from controller.compute.api.servicer import ComputeServicer
from controller.compute.scheduler.host_records import HostRecords
from controller.compute.scheduler.placement import Placement
from controller.compute.scheduler.selector import Scheduler
from stratus_common.errors import Unavailable
from stratus.compute.v1 import compute_service_pb2 as pb


def _no_image_service(image_id, project_id, is_admin):
    raise Unavailable("no image service is running on this controller",
                      reason="IMAGE_SERVICE_UNAVAILABLE")


def setup(app):
    settings = app.config.section(ComputeSection)
    sched_config = app.config.section(SchedulerSection).scheduler_config()
    records = HostRecords(sched_config, settings.service_down_time)
    placement = Placement(app.db, Scheduler(sched_config), records,
                          max_age=app.config.section(SchedulerSection).snapshot_max_age)
    queue = BuildQueue(app.db, placement, settings.placement_workers)
    app.compute_host_records = records
    app.compute_placement = placement
    app.compute_scheduling = queue
    if getattr(app, "image_lookup", None) is None:
        app.image_lookup = _no_image_service
    quotas = Quotas(app.db, settings.quota_defaults(), servers.count_for_quota)
    app.enforcer.register(policies.RULES)
    servicer = ComputeServicer(app, settings, quotas, NoConductor(app.db, queue), records,
                               settings.watch_interval)
    app.background += [queue.run, servicer.creates.run]
    app.add_public_service(servicer, pb.DESCRIPTOR.services_by_name["ComputeService"])
