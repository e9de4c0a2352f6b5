"""stratus.compute.v1.ComputeService: validate, call the domain, convert. Nothing else."""

from __future__ import annotations

import functools

from google.protobuf import empty_pb2

from controller import validation
from controller.auth import context as auth_context
from controller.compute.api import (
    convert,
    creates,
    flavors,
    hosts,
    keypairs,
    nics,
    server_groups,
    servers,
    watch,
)
from controller.compute.api.caller import Caller
from controller.compute.api.config import ComputeSection
from controller.compute.api.consoles import ConsoleUrls
from controller.compute.api.feed import ChangeFeed
from controller.compute.api.images import CreateSnapshot, ImageLookup
from controller.compute.api.quota_rules import QuotaValues
from controller.compute.api.quotas import Quotas
from controller.compute.conductor import resizes
from controller.compute.conductor.conductor import Conductor
from controller.compute.records import actions, lifecycle, states
from controller.compute.scheduler.host_records import HostRecords
from controller.compute.scheduler.placement import Placement
from controller.db.batching import Batcher
from controller.db.database import Database
from controller.db.paging import page_request
from controller.image.port import SnapshotRequest
from controller.limits.slots import Slots
from controller.logs import request_id_var
from controller.network.port import NetworkPort
from controller.rpc.convert import changes, timestamp
from controller.rpc.policy_spec import rpc
from stratus.compute.v1 import compute_service_pb2 as pb
from stratus.compute.v1 import compute_service_pb2_grpc as pb_grpc
from stratus_common import errors

EMPTY = empty_pb2.Empty()
CONSOLE_TYPES = {
    pb.CONSOLE_TYPE_NOVNC: "novnc",
    pb.CONSOLE_TYPE_SPICE_HTML5: "spice-html5",
    pb.CONSOLE_TYPE_SERIAL: "serial",
}
MAX_CONSOLE_LINES = 10_000


def _caller() -> Caller:
    return Caller.of(auth_context.current.get(), request_id_var.get(""))


def _own_project(request, auth):
    return {"project_id": request.project_id or auth.project_id}


class ComputeServicer(pb_grpc.ComputeServiceServicer):
    def __init__(
        self,
        db: Database,
        settings: ComputeSection,
        quotas: Quotas,
        conductor: Conductor,
        placement: Placement,
        host_records: HostRecords,
        image_lookup: ImageLookup,
        feed: ChangeFeed,
        slots: Slots,
        network: NetworkPort,
        console_urls: ConsoleUrls,
        create_snapshot: CreateSnapshot | None = None,
    ):
        self.db = db
        self.console_urls = console_urls
        self.image_lookup = image_lookup
        self.create_snapshot = create_snapshot
        self.feed = feed
        self.slots = slots
        self.settings = settings
        self.quotas = quotas
        self.conductor = conductor
        self.placement = placement
        self.host_records = host_records
        self.network = network
        # CreateServer's database work, batched: the controller runs `creates.run`
        self.creates = Batcher(
            db,
            functools.partial(creates.create_batch, db, quotas, host_records.is_up, image_lookup),
            creates.MAX_BATCH,
        )

    # -- flavors -----------------------------------------------------------------------------
    @rpc("compute:create_flavor")
    async def CreateFlavor(self, request, context):
        f = request.flavor
        row = await self.db.run(
            flavors.create,
            name=f.name,
            vcpus=f.vcpus,
            ram_mb=f.ram_mb,
            disk_gb=f.disk_gb,
            ephemeral_gb=f.ephemeral_gb,
            swap_mb=f.swap_mb,
            is_public=f.is_public if f.HasField("is_public") else True,
            description=f.description,
            extra_specs=dict(f.extra_specs),
            flavor_id=request.flavor_id,
        )
        return convert.flavor(row)

    @rpc("compute:get_flavor")
    async def GetFlavor(self, request, context):
        return convert.flavor(await self.db.run(flavors.get, request.id, _caller()))

    @rpc("compute:list_flavors")
    async def ListFlavors(self, request, context):
        page = page_request(
            request.page_size,
            request.page_token,
            {"p": request.include_private, "r": request.min_ram_mb, "d": request.min_disk_gb},
        )
        rows, token = await self.db.run(
            flavors.list_,
            page,
            _caller(),
            include_private=request.include_private,
            min_ram_mb=request.min_ram_mb,
            min_disk_gb=request.min_disk_gb,
        )
        return pb.ListFlavorsResponse(
            flavors=[convert.flavor(r) for r in rows], next_page_token=token
        )

    @rpc("compute:update_flavor")
    async def UpdateFlavor(self, request, context):
        paths = validation.update_mask(request.update_mask.paths, flavors.UPDATABLE)
        values = changes(request.flavor, paths)
        if "extra_specs" in values:
            values["extra_specs"] = dict(values["extra_specs"])
        row = await self.db.run(flavors.update, request.flavor.id, values, _caller())
        return convert.flavor(row)

    @rpc("compute:delete_flavor")
    async def DeleteFlavor(self, request, context):
        await self.db.run(flavors.delete, request.id, _caller())
        return EMPTY

    @rpc("compute:add_flavor_access")
    async def AddFlavorAccess(self, request, context):
        ids = await self.db.run(
            flavors.add_access, self.db, request.flavor_id, list(request.project_ids), _caller()
        )
        return pb.AddFlavorAccessResponse(project_ids=ids)

    @rpc("compute:remove_flavor_access")
    async def RemoveFlavorAccess(self, request, context):
        ids = await self.db.run(
            flavors.remove_access, self.db, request.flavor_id, list(request.project_ids), _caller()
        )
        return pb.RemoveFlavorAccessResponse(project_ids=ids)

    @rpc("compute:list_flavor_access")
    async def ListFlavorAccess(self, request, context):
        page = page_request(request.page_size, request.page_token, {"f": request.flavor_id})
        rows, token = await self.db.run(flavors.list_access, request.flavor_id, page, _caller())
        return pb.ListFlavorAccessResponse(
            project_ids=[r.project_id for r in rows], next_page_token=token
        )

    # -- servers -----------------------------------------------------------------------------
    def _show_host(self) -> bool:
        return auth_context.current.get().is_admin

    @rpc("compute:create_server")
    async def CreateServer(self, request, context):
        s = request.server
        req = servers.ServerRequest(
            name=s.name,
            flavor_id=s.flavor_id,
            image_id=s.image_id,
            key_name=s.key_name,
            availability_zone=s.availability_zone,
            server_group_id=s.server_group_id,
            metadata=dict(s.metadata),
            user_data=s.user_data,
            config_drive=s.config_drive if s.HasField("config_drive") else True,
        )
        servers.check_request(req, request.request_id)
        caller = _caller()
        earlier = await self.db.run(nics.earlier_server, caller, request.request_id)
        wanted = await self.db.run(
            self.network.resolve, caller, nics.requested(s.networks), s.no_network, earlier
        )
        row, created = await self.creates.submit((caller, req, request.request_id))
        if created and wanted:
            await self.db.run(nics.allocate, self.db, self.network, caller, row.id, wanted)
            row = await self.db.run(servers.get, caller, row.id)
        if created and row.vm_state != states.ERROR:
            await self.conductor.build(row.id)
        return convert.server(row, self._show_host())

    @rpc("compute:get_server")
    async def GetServer(self, request, context):
        row = await self.db.run(servers.get, _caller(), request.id)
        return convert.server(row, self._show_host())

    @rpc("compute:list_servers", deferred=True)
    async def ListServers(self, request, context):
        auth = auth_context.current.get()
        auth.authorize(
            "compute:list_all_servers" if request.all_projects else "compute:list_servers"
        )
        since = request.changes_since.ToDatetime() if request.HasField("changes_since") else None
        if request.status and request.status not in convert.STATUS_FILTER:
            raise errors.InvalidArgument("status", "not a server status")
        f = servers.ListFilters(
            all_projects=request.all_projects,
            project_id=request.project_id,
            name=request.name,
            vm_states=convert.STATUS_FILTER.get(request.status, ()),
            host=request.host,
            image_id=request.image_id,
            flavor_id=request.flavor_id,
            changes_since=since,
        )
        page = page_request(
            request.page_size, request.page_token, {k: str(v) for k, v in f.__dict__.items()}
        )
        rows, token = await self.db.run(servers.list_, _caller(), page, f)
        show = self._show_host()
        return pb.ListServersResponse(
            servers=[convert.server(r, show) for r in rows], next_page_token=token
        )

    @rpc("compute:update_server")
    async def UpdateServer(self, request, context):
        paths = validation.update_mask(request.update_mask.paths, servers.UPDATABLE)
        values = changes(request.server, paths)
        if "metadata" in values:
            values["metadata"] = dict(values["metadata"])
        row = await self.db.run(servers.update, self.db, _caller(), request.server.id, values)
        return convert.server(row, self._show_host())

    @rpc("compute:delete_server")
    async def DeleteServer(self, request, context):
        then, shelved_image = await self.db.run(
            servers.request_delete,
            self.db,
            _caller(),
            request.id,
            functools.partial(hosts.is_up, self.host_records.is_up),
        )
        if then == servers.ON_HOST:
            await self.conductor.delete(request.id)
        elif then == servers.LOCAL:
            await self.conductor.deleted_locally(request.id)
        if shelved_image:
            await self.conductor.images.discard(shelved_image)
        self.placement.invalidate()
        return EMPTY

    @rpc("compute:lock_server")
    async def LockServer(self, request, context):
        row = await self.db.run(
            servers.set_locked, self.db, _caller(), request.id, True, request.reason
        )
        return convert.server(row, self._show_host())

    @rpc("compute:unlock_server")
    async def UnlockServer(self, request, context):
        row = await self.db.run(servers.set_locked, self.db, _caller(), request.id, False)
        return convert.server(row, self._show_host())

    async def _act(self, server_id: str, action_name: str):
        action = states.ACTIONS[action_name]
        row = await self.db.run(servers.request_action, self.db, _caller(), server_id, action)
        await self.conductor.act(row.id, action)
        return convert.server(row, self._show_host())

    @rpc("compute:stop_server")
    async def StopServer(self, request, context):
        return await self._act(request.id, "stop")

    @rpc("compute:start_server")
    async def StartServer(self, request, context):
        return await self._act(request.id, "start")

    @rpc("compute:reboot_server")
    async def RebootServer(self, request, context):
        hard = request.type == pb.REBOOT_TYPE_HARD
        return await self._act(request.id, "reboot_hard" if hard else "reboot")

    @rpc("compute:pause_server")
    async def PauseServer(self, request, context):
        return await self._act(request.id, "pause")

    @rpc("compute:unpause_server")
    async def UnpauseServer(self, request, context):
        return await self._act(request.id, "unpause")

    @rpc("compute:suspend_server")
    async def SuspendServer(self, request, context):
        return await self._act(request.id, "suspend")

    @rpc("compute:resume_server")
    async def ResumeServer(self, request, context):
        return await self._act(request.id, "resume")

    @rpc("compute:create_server_image")
    async def CreateServerImage(self, request, context):
        validation.name("name", request.name)
        metadata = servers.check_metadata(dict(request.metadata), "metadata")

        row, image_id = await self._save_disk(
            request.server_id, states.CREATE_IMAGE, lambda row: request.name, metadata
        )
        return pb.CreateServerImageResponse(
            image_id=image_id, server=convert.server(row, self._show_host())
        )

    async def _save_disk(self, server_id: str, action, name_of, metadata: dict):
        caller = _caller()

        def create_image(row) -> str:
            return self.create_snapshot(
                SnapshotRequest(
                    project_id=row.project_id,
                    name=name_of(row),
                    instance_id=row.id,
                    base_image_id=row.image_id,
                    min_disk_gb=row.disk_gb,
                    metadata=metadata,
                )
            )

        row, image_id = await self.db.run(
            servers.request_disk_save,
            self.db,
            caller,
            server_id,
            action,
            create_image,
            self.conductor.disk_sender(action, caller.request_id),
        )
        self.conductor.wake(row.node_id)
        return row, image_id

    @rpc("compute:shelve_server")
    async def ShelveServer(self, request, context):
        row, _ = await self._save_disk(
            request.id, states.SHELVE, lambda row: f"{row.name}-shelved", {}
        )
        return convert.server(row, self._show_host())

    @rpc("compute:unshelve_server")
    async def UnshelveServer(self, request, context):
        row = await self.db.run(servers.request_unshelve, self.db, _caller(), request.id)
        await self.conductor.build(row.id)
        return convert.server(row, self._show_host())

    @rpc("compute:rebuild_server")
    async def RebuildServer(self, request, context):
        req = servers.RebuildRequest(
            image_id=request.image_id,
            name=request.name,
            user_data=request.user_data if request.HasField("user_data") else None,
            key_name=request.key_name if request.HasField("key_name") else None,
        )
        servers.check_rebuild(req)
        caller = _caller()
        row = await self.db.run(
            servers.request_rebuild,
            self.db,
            caller,
            request.id,
            req,
            self.image_lookup,
            self.conductor.rebuild_sender(caller.request_id),
        )
        self.conductor.wake(row.node_id)
        return convert.server(row, self._show_host())

    @rpc("compute:resize_server")
    async def ResizeServer(self, request, context):
        row = await self.db.run(
            servers.request_resize,
            self.db,
            self.quotas,
            _caller(),
            request.id,
            request.flavor_id,
        )
        await self.conductor.resize(row.id, row.host)
        return convert.server(row, self._show_host())

    @rpc("compute:migrate_server")
    async def MigrateServer(self, request, context):
        row = await self.db.run(servers.request_migrate, self.db, _caller(), request.id)
        await self.conductor.resize(row.id, row.host, same_host=False)
        return convert.server(row, self._show_host())

    @rpc("compute:evacuate_server")
    async def EvacuateServer(self, request, context):
        row = await self.db.run(
            servers.request_evacuate,
            self.db,
            _caller(),
            request.id,
            functools.partial(hosts.up_and_enabled, self.host_records.is_up),
        )
        await self.conductor.deleted_locally(row.id)  # none of its old host's commands run
        await self.conductor.build(row.id)
        self.placement.invalidate()
        return convert.server(row, self._show_host())

    async def _end_resize(self, server_id: str, action, send):
        row = await self.db.run(
            servers.request_resize_end,
            self.db,
            _caller(),
            server_id,
            action,
            self.conductor.resize_sender(send),
        )
        self.conductor.wake_all()
        return convert.server(row, self._show_host())

    @rpc("compute:confirm_server_resize")
    async def ConfirmServerResize(self, request, context):
        return await self._end_resize(request.id, states.CONFIRM_RESIZE, resizes.send_confirm)

    @rpc("compute:revert_server_resize")
    async def RevertServerResize(self, request, context):
        return await self._end_resize(request.id, states.REVERT_RESIZE, resizes.send_revert)

    @rpc("compute:watch_servers", deferred=True)
    async def WatchServers(self, request, context):
        auth = auth_context.current.get()
        auth.authorize(
            "compute:list_all_servers" if request.all_projects else "compute:watch_servers"
        )
        caller = _caller()
        current = await self.db.run(lifecycle.current_revision)
        if request.since_revision < 0 or request.since_revision > current:
            raise errors.InvalidArgument(
                "since_revision", f"must be between 0 and the current {current}"
            )
        if request.server_id:
            await self.db.run(servers.get, caller, request.server_id)
        include_deleted = request.since_revision > 0  # a first listing shows live servers

        async def backlog(revision: int):
            nonlocal include_deleted
            rows = await self.db.run(
                watch.changes_after,
                caller,
                revision,
                request.server_id,
                request.all_projects,
                include_deleted,
            )
            include_deleted = True
            return rows

        show = self._show_host()
        matches = watch.matcher(caller, request.server_id, request.all_projects)
        with self.slots.streams.hold(caller.user_id):
            async with self.feed.subscribe(matches) as changes:
                # Headers now: the client knows its watch is open, and misses nothing after.
                await context.send_initial_metadata(())
                async for row in changes.follow(backlog, request.since_revision):
                    yield pb.WatchServersResponse(
                        server=convert.server(row, show), revision=row.revision
                    )

    @rpc("compute:list_server_actions")
    async def ListServerActions(self, request, context):
        caller = _caller()
        page = page_request(request.page_size, request.page_token, {"s": request.server_id})

        def load():
            servers.get(caller, request.server_id)
            rows, token = actions.list_(request.server_id, page)
            return rows, actions.events_of([r.id for r in rows]), token

        rows, events, token = await self.db.run(load)
        show = self._show_host()
        return pb.ListServerActionsResponse(
            actions=[convert.action(r, events[r.id], show) for r in rows], next_page_token=token
        )

    @rpc("compute:get_console_output")
    async def GetConsoleOutput(self, request, context):
        if request.lines < 0:
            raise errors.InvalidArgument("lines", "must not be negative")
        row = await self.db.run(servers.get, _caller(), request.server_id)
        if not row.host:
            raise errors.FailedPrecondition(
                "the server is not on a host yet", reason="INVALID_SERVER_STATE"
            )
        text = await self.conductor.console_output(
            row.id, min(request.lines or MAX_CONSOLE_LINES, MAX_CONSOLE_LINES)
        )
        return pb.ConsoleOutput(server_id=row.id, output=text)

    @rpc("compute:create_console", deferred=True)
    async def CreateConsole(self, request, context):
        console_type = CONSOLE_TYPES.get(request.type)
        if console_type is None:
            raise errors.InvalidArgument("type", "one of novnc, spice-html5, serial")
        auth_context.current.get().authorize(f"compute:create_console:{console_type}")
        url, expires, server_id = await self.console_urls.create(
            _caller(), request.server_id, console_type
        )
        return pb.Console(
            server_id=server_id, type=request.type, url=url, expire_time=timestamp(expires)
        )

    # -- key pairs ---------------------------------------------------------------------------
    @rpc("compute:create_key_pair")
    async def CreateKeyPair(self, request, context):
        k = request.key_pair
        row, private = await self.db.run(
            keypairs.create, self.db, self.quotas, _caller(), k.name, k.public_key
        )
        return convert.key_pair(row, private)

    @rpc("compute:get_key_pair")
    async def GetKeyPair(self, request, context):
        return convert.key_pair(
            await self.db.run(keypairs.get, _caller(), request.name, request.user_id)
        )

    @rpc("compute:list_key_pairs")
    async def ListKeyPairs(self, request, context):
        page = page_request(request.page_size, request.page_token, {"u": request.user_id})
        rows, token = await self.db.run(keypairs.list_, _caller(), page, request.user_id)
        return pb.ListKeyPairsResponse(
            key_pairs=[convert.key_pair(r) for r in rows], next_page_token=token
        )

    @rpc("compute:delete_key_pair")
    async def DeleteKeyPair(self, request, context):
        await self.db.run(keypairs.delete, _caller(), request.name, request.user_id)
        return EMPTY

    # -- server groups -----------------------------------------------------------------------
    @rpc("compute:create_server_group")
    async def CreateServerGroup(self, request, context):
        g = request.server_group
        if g.policy not in convert.POLICY_NAME:
            raise errors.InvalidArgument("server_group.policy", "is required")
        row = await self.db.run(
            server_groups.create,
            self.db,
            self.quotas,
            _caller(),
            g.name,
            convert.POLICY_NAME[g.policy],
            g.max_server_per_host,
        )
        return convert.server_group(row, [])

    @rpc("compute:get_server_group")
    async def GetServerGroup(self, request, context):
        caller = _caller()

        def load():
            row = server_groups.get(caller, request.id)
            return row, server_groups.members(row.id)

        return convert.server_group(*await self.db.run(load))

    @rpc("compute:list_server_groups", deferred=True)
    async def ListServerGroups(self, request, context):
        auth_context.current.get().authorize(
            "compute:list_all_servers" if request.all_projects else "compute:list_server_groups"
        )
        caller = _caller()
        page = page_request(request.page_size, request.page_token, {"a": request.all_projects})

        def load():
            rows, token = server_groups.list_(caller, page, request.all_projects)
            return [(r, server_groups.members(r.id)) for r in rows], token

        pairs, token = await self.db.run(load)
        return pb.ListServerGroupsResponse(
            server_groups=[convert.server_group(r, m) for r, m in pairs], next_page_token=token
        )

    @rpc("compute:delete_server_group")
    async def DeleteServerGroup(self, request, context):
        await self.db.run(server_groups.delete, _caller(), request.id)
        return EMPTY

    # -- quotas ------------------------------------------------------------------------------
    async def _quotas(self, project_id: str) -> pb.Quotas:
        def load():
            return self.quotas.limits(project_id), self.quotas.usage(project_id)

        limits, usage = await self.db.run(load)
        return pb.Quotas(
            project_id=project_id,
            limits=convert.quota_values(limits),
            usage=convert.quota_values(usage),
        )

    @rpc("compute:get_quotas", target=_own_project)
    async def GetQuotas(self, request, context):
        project_id = request.project_id or auth_context.current.get().project_id
        validation.uuid("project_id", project_id)
        return await self._quotas(project_id)

    @rpc("compute:update_quotas")
    async def UpdateQuotas(self, request, context):
        project_id = validation.uuid("quotas.project_id", request.quotas.project_id)
        allowed = {f"limits.{n}" for n in QuotaValues.names()}
        paths = validation.update_mask(request.update_mask.paths, allowed)
        values = {
            p.split(".", 1)[1]: getattr(request.quotas.limits, p.split(".", 1)[1]) for p in paths
        }
        await self.db.run(self.quotas.update, project_id, values)
        return await self._quotas(project_id)

    @rpc("compute:delete_quotas")
    async def DeleteQuotas(self, request, context):
        project_id = validation.uuid("project_id", request.project_id)
        await self.db.run(self.quotas.reset, project_id)
        return EMPTY

    # -- zones, services, hypervisors --------------------------------------------------------
    @rpc("compute:list_availability_zones")
    async def ListAvailabilityZones(self, request, context):
        page_request(request.page_size, request.page_token)  # validates; zones are few
        zones = await self.db.run(hosts.availability_zones, self.host_records.is_up)
        show = self._show_host()
        return pb.ListAvailabilityZonesResponse(
            availability_zones=[
                pb.AvailabilityZone(name=n, available=a, hosts=h if show else [])
                for n, a, h in zones
            ]
        )

    @rpc("compute:list_compute_services")
    async def ListComputeServices(self, request, context):
        page = page_request(request.page_size, request.page_token, {"h": request.host})
        rows, token = await self.db.run(hosts.list_nodes, page, request.host)
        up = self.host_records.is_up
        return pb.ListComputeServicesResponse(
            services=[convert.compute_service(n, up(n.heartbeat_at, n.forced_down)) for n in rows],
            next_page_token=token,
        )

    async def _set_enabled(self, node_id: str, enabled: bool, reason: str = ""):
        node = await self.db.run(hosts.set_enabled, node_id, enabled, reason)
        self.placement.invalidate()
        return convert.compute_service(
            node, self.host_records.is_up(node.heartbeat_at, node.forced_down)
        )

    @rpc("compute:enable_compute_service")
    async def EnableComputeService(self, request, context):
        return await self._set_enabled(request.id, True)

    @rpc("compute:disable_compute_service")
    async def DisableComputeService(self, request, context):
        return await self._set_enabled(request.id, False, request.reason)

    def _hypervisor(self, node, usage, servers_on=()) -> pb.Hypervisor:
        up = self.host_records.is_up(node.heartbeat_at, node.forced_down)
        cfg = self.placement.scheduler.config
        return pb.Hypervisor(
            id=node.id,
            hostname=node.hostname,
            host_ip=node.host_ip,
            hypervisor_type=node.hypervisor_type,
            hypervisor_version=node.hypervisor_version,
            status=pb.SERVICE_STATUS_ENABLED if node.enabled else pb.SERVICE_STATUS_DISABLED,
            state=pb.SERVICE_STATE_UP if up else pb.SERVICE_STATE_DOWN,
            vcpus=node.vcpus,
            vcpus_used=usage.vcpus,
            memory_mb=node.memory_mb,
            memory_mb_used=usage.memory_mb,
            local_gb=node.disk_gb,
            local_gb_used=usage.disk_gb,
            running_vms=usage.servers,
            cpu_allocation_ratio=node.cpu_allocation_ratio or cfg.cpu_allocation_ratio,
            ram_allocation_ratio=node.ram_allocation_ratio or cfg.ram_allocation_ratio,
            disk_allocation_ratio=node.disk_allocation_ratio or cfg.disk_allocation_ratio,
            servers=[pb.HypervisorServer(id=i, name=n) for i, n in servers_on],
        )

    @rpc("compute:list_hypervisors")
    async def ListHypervisors(self, request, context):
        page = page_request(request.page_size, request.page_token, {"h": request.hostname})

        def load():
            rows, token = hosts.list_nodes(page, hostname_contains=request.hostname)
            return rows, hosts.usage_by_node([r.id for r in rows]), token

        rows, usage, token = await self.db.run(load)
        return pb.ListHypervisorsResponse(
            hypervisors=[self._hypervisor(n, usage.get(n.id, hosts.Usage())) for n in rows],
            next_page_token=token,
        )

    @rpc("compute:get_hypervisor")
    async def GetHypervisor(self, request, context):
        def load():
            node = hosts.get_node(request.id)
            on = hosts.servers_on(node.id) if request.with_servers else []
            return node, hosts.usage_by_node([node.id]).get(node.id, hosts.Usage()), on

        node, usage, on = await self.db.run(load)
        return self._hypervisor(node, usage, on)

    @rpc("compute:get_hypervisor_statistics")
    async def GetHypervisorStatistics(self, request, context):
        totals = await self.db.run(hosts.statistics, self.host_records.is_up)
        return pb.HypervisorStatistics(**totals)
