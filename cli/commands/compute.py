"""Compute commands: flavor, server (and its actions, console log, events, --wait), keypair,
server group, quota, availability zone, compute service, hypervisor."""

import uuid
from pathlib import Path

from google.protobuf import field_mask_pb2

from cli import resources, wait
from cli.commands import image as image_commands
from cli.errors import CliError, UsageError
from cli.formatters import ShowResult
from cli.registry import arg, command, group
from stratus.compute.v1 import compute_service_pb2 as pb
from stratus.compute.v1 import compute_service_pb2_grpc as pb_grpc
from stratus.image.v1 import image_service_pb2 as image_pb

for _name, _help in [
    ("flavor", "server sizes"),
    ("server", "virtual machines"),
    ("server event", "what was done to a server"),
    ("server console", "a server's console"),
    ("server group", "servers placed together or apart"),
    ("console", "a server's console"),
    ("console log", "console output"),
    ("keypair", "SSH key pairs"),
    ("quota", "a project's limits and usage"),
    ("availability", "availability zones"),
    ("availability zone", "availability zones"),
    ("compute", "compute services"),
    ("compute service", "compute services"),
    ("hypervisor", "compute hosts"),
    ("hypervisor stats", "totals"),
]:
    group(_name, _help)

STATUS = pb.ServerStatus.DESCRIPTOR
TASK = pb.TaskState.DESCRIPTOR
POLICY = pb.ServerGroupPolicy.DESCRIPTOR
QUOTAS = ["instances", "cores", "ram_mb", "key_pairs", "server_groups", "server_group_members"]


def compute(ctx) -> pb_grpc.ComputeServiceStub:
    return ctx.session.stub(pb_grpc.ComputeServiceStub)


def call(ctx, method: str, request):
    return ctx.session.call(getattr(compute(ctx), method), request)


# -- lookups -----------------------------------------------------------------------------


def find_flavor(ctx, name_or_id):
    def named(name):
        request = pb.ListFlavorsRequest(include_private=True)
        try:
            flavors = list(ctx.session.paged(compute(ctx).ListFlavors, request, "flavors"))
        except resources.grpc.RpcError:  # include_private is for admins
            flavors = list(
                ctx.session.paged(compute(ctx).ListFlavors, pb.ListFlavorsRequest(), "flavors")
            )
        return [f for f in flavors if f.name == name]

    return resources.find(
        "flavor",
        name_or_id,
        any_id=True,
        by_name=named,
        get=lambda i: call(ctx, "GetFlavor", pb.GetFlavorRequest(id=i)),
    )


def find_server(ctx, name_or_id):
    def named(name):
        servers = ctx.session.paged(
            compute(ctx).ListServers, pb.ListServersRequest(name=name), "servers"
        )
        return [s for s in servers if s.name == name]  # the filter matches substrings

    return resources.find(
        "server",
        name_or_id,
        by_name=named,
        get=lambda i: call(ctx, "GetServer", pb.GetServerRequest(id=i)),
    )


def find_group(ctx, name_or_id):
    def named(name):
        groups = ctx.session.paged(
            compute(ctx).ListServerGroups, pb.ListServerGroupsRequest(), "server_groups"
        )
        return [g for g in groups if g.name == name]

    return resources.find(
        "server group",
        name_or_id,
        by_name=named,
        get=lambda i: call(ctx, "GetServerGroup", pb.GetServerGroupRequest(id=i)),
    )


def image_id(ctx, name_or_id: str) -> str:
    if resources.UUID.fullmatch(name_or_id):
        return name_or_id
    try:
        from cli.commands import image
    except ImportError:
        raise CliError(
            "image names cannot be looked up without the image service's stubs; give the image's ID"
        ) from None
    return image.find_image(ctx, name_or_id).id


def project_id(ctx, name_or_id: str) -> str:
    from cli.commands import identity

    return identity.find_project(ctx, name_or_id).id


# -- flavors -----------------------------------------------------------------------------


def show_flavor(flavor):
    return resources.show(
        flavor,
        rename={
            "extra_specs": "properties",
            "ram_mb": "ram",
            "disk_gb": "disk",
            "ephemeral_gb": "ephemeral",
            "swap_mb": "swap",
            "is_public": "os-flavor-access:is_public",
        },
    )


FLAVOR_FIELDS = resources.fields_of(show_flavor, pb.Flavor)


@command("flavor create", help="create a flavor", output="show", columns=FLAVOR_FIELDS)
@arg("name", help="new flavor name")
@arg("--id", default="", help="flavor ID (default: a UUID)")
@arg("--ram", type=int, default=256, help="memory size in MB (default 256)")
@arg("--disk", type=int, default=0, help="root disk size in GB (default 0: the image's)")
@arg("--ephemeral", type=int, default=0, help="ephemeral disk size in GB (default 0)")
@arg("--swap", type=int, default=0, help="swap size in MB (default 0)")
@arg("--vcpus", type=int, default=1, help="number of virtual CPUs (default 1)")
@arg(
    "--public",
    dest="is_public",
    action="store_true",
    default=True,
    help="usable by every project (default)",
)
@arg(
    "--private",
    dest="is_public",
    action="store_false",
    help="usable only by the projects given access",
)
@resources.properties_arg("extra spec (repeat for more)")
@arg("--description", default="", help="flavor description")
@arg("--project", help="give this project access to the private flavor")
def flavor_create(ctx, args):
    flavor = pb.Flavor(
        name=args.name,
        vcpus=args.vcpus,
        ram_mb=args.ram,
        disk_gb=args.disk,
        ephemeral_gb=args.ephemeral,
        swap_mb=args.swap,
        is_public=args.is_public,
        description=args.description,
        extra_specs=dict(args.properties),
    )
    created = call(ctx, "CreateFlavor", pb.CreateFlavorRequest(flavor=flavor, flavor_id=args.id))
    if args.project:
        call(
            ctx,
            "AddFlavorAccess",
            pb.AddFlavorAccessRequest(
                flavor_id=created.id, project_ids=[project_id(ctx, args.project)]
            ),
        )
    return show_flavor(created)


FLAVOR_COLUMNS = resources.Columns(
    [
        ("ID", "id"),
        ("Name", "name"),
        ("RAM", "ram_mb"),
        ("Disk", "disk_gb"),
        ("Ephemeral", "ephemeral_gb"),
        ("VCPUs", "vcpus"),
        ("Is Public", "is_public"),
    ],
    long=[("Swap", "swap_mb"), ("Properties", "extra_specs")],
)


@command("flavor list", help="list flavors", output="list", columns=FLAVOR_COLUMNS.headings)
@arg("--all", dest="include_private", action="store_true", help="private flavors too (admins)")
@arg("--min-ram", type=int, default=0, help="only flavors with at least this much RAM (MB)")
@arg("--min-disk", type=int, default=0, help="only flavors with at least this much disk (GB)")
@arg("--long", action="store_true", help="list more columns")
def flavor_list(ctx, args):
    request = pb.ListFlavorsRequest(
        include_private=args.include_private, min_ram_mb=args.min_ram, min_disk_gb=args.min_disk
    )
    return resources.listing(
        ctx.session.paged(compute(ctx).ListFlavors, request, "flavors"), FLAVOR_COLUMNS.chosen(args)
    )


@command(
    "flavor show",
    help="show a flavor's details",
    output="show",
    columns=resources.fields_of(show_flavor, pb.Flavor, "access_project_ids"),
)
@arg("flavor", help="flavor name or ID")
def flavor_show(ctx, args):
    flavor = find_flavor(ctx, args.flavor)
    result = show_flavor(flavor)
    result.fields["access_project_ids"] = None
    if not flavor.is_public:
        try:
            access = ctx.session.paged(
                compute(ctx).ListFlavorAccess,
                pb.ListFlavorAccessRequest(flavor_id=flavor.id),
                "project_ids",
            )
            result.fields["access_project_ids"] = list(access)
        except resources.grpc.RpcError:
            pass  # only admins may see who has access
    return result


@command("flavor set", help="change a flavor's properties, description or access")
@arg("flavor", help="flavor name or ID")
@resources.properties_arg("extra spec to set (repeat for more)")
@arg("--description", help="new description")
@arg("--project", help="give this project access to the private flavor")
def flavor_set(ctx, args):
    flavor = find_flavor(ctx, args.flavor)
    if not (args.properties or args.description is not None or args.project):
        raise UsageError("nothing to change: give --property, --description or --project")
    paths = []
    if args.properties:
        flavor.extra_specs.update(dict(args.properties))
        paths.append("extra_specs")
    if args.description is not None:
        flavor.description = args.description
        paths.append("description")
    if paths:
        call(
            ctx,
            "UpdateFlavor",
            pb.UpdateFlavorRequest(
                flavor=flavor, update_mask=field_mask_pb2.FieldMask(paths=paths)
            ),
        )
    if args.project:
        call(
            ctx,
            "AddFlavorAccess",
            pb.AddFlavorAccessRequest(
                flavor_id=flavor.id, project_ids=[project_id(ctx, args.project)]
            ),
        )


@command("flavor unset", help="remove a flavor's properties or a project's access")
@arg("flavor", help="flavor name or ID")
@arg(
    "--property",
    dest="properties",
    action="append",
    default=[],
    metavar="KEY",
    help="extra spec to remove (repeat for more)",
)
@arg("--project", help="take this project's access away")
def flavor_unset(ctx, args):
    flavor = find_flavor(ctx, args.flavor)
    if not (args.properties or args.project):
        raise UsageError("nothing to change: give --property or --project")
    if args.properties:
        for key in args.properties:
            flavor.extra_specs.pop(key, None)
        call(
            ctx,
            "UpdateFlavor",
            pb.UpdateFlavorRequest(
                flavor=flavor, update_mask=field_mask_pb2.FieldMask(paths=["extra_specs"])
            ),
        )
    if args.project:
        call(
            ctx,
            "RemoveFlavorAccess",
            pb.RemoveFlavorAccessRequest(
                flavor_id=flavor.id, project_ids=[project_id(ctx, args.project)]
            ),
        )


@command("flavor delete", help="delete flavors")
@arg("flavors", nargs="+", metavar="FLAVOR", help="flavor name or ID")
def flavor_delete(ctx, args):
    resources.delete_each(
        ctx,
        "flavor",
        args.flavors,
        lambda name: call(
            ctx, "DeleteFlavor", pb.DeleteFlavorRequest(id=find_flavor(ctx, name).id)
        ),
    )


# -- servers -----------------------------------------------------------------------------


def status(server) -> str:
    return resources.enum_name(STATUS, server.status, upper=True) or ""


def networks(server) -> str:
    by_network = {}
    for address in server.addresses:
        by_network.setdefault(address.network, []).append(address.address)
    return "; ".join(f"{net}={', '.join(addrs)}" for net, addrs in by_network.items())


def show_server(server) -> ShowResult:
    fields = resources.to_dict(server)
    fields.pop("user_data", None)
    fields["status"] = status(server)
    fields["flavor"] = (
        f"{server.flavor.name} ({server.flavor_id})" if server.flavor.name else server.flavor_id
    )
    fields.pop("flavor_id")
    fields["image"] = fields.pop("image_id")
    fields["addresses"] = networks(server)
    fields["properties"] = fields.pop("metadata")
    fields["fault"] = (
        f"{server.fault.message} ({server.fault.code})" if server.HasField("fault") else None
    )
    fields["host"] = server.host or None  # known once placed, and only to admins
    return ShowResult(dict(sorted(fields.items())))


SERVER_FIELDS = resources.fields_of(show_server, pb.Server)


def watch(ctx, server, label: str, goal: str, done=None, failed=lambda s: status(s) == "ERROR"):
    """Follows WatchServers from the server's revision until done(server) (by default: in
    `goal` status with no task under way); the final one."""
    done = done or settled(goal)

    def open_stream(last):
        since = last.revision if last is not None else server.revision
        request = pb.WatchServersRequest(server_id=server.id, since_revision=since)
        return ctx.session.stream(compute(ctx).WatchServers, request)

    def status_of(message):
        task = resources.enum_name(TASK, message.server.task_state)
        text = status(message.server)
        return f"{text} ({task})" if task and task != "none" else text

    if done(server):
        return server
    message = wait.follow(
        open_stream,
        status_of=status_of,
        done=lambda m: done(m.server),
        failed=lambda m: failed(m.server),
        report=ctx.stderr,
        label=label,
        fault_of=lambda m: m.server.fault.message,
        initial=status_of(pb.WatchServersResponse(server=server)),
        goal=goal,
        # the time waited is for people; -f json and the like are for programs
        elapsed=getattr(ctx.args, "format", "table") == "table",
    )
    return message.server


def settled(wanted: str):
    """A server in `wanted` status with no task under way."""
    return lambda s: (
        status(s) == wanted and s.task_state in (pb.TASK_STATE_UNSPECIFIED, pb.TASK_STATE_NONE)
    )


def add_networks(ctx, server, args) -> None:
    """`--nic`, `--network` and `--port` as the openstack client takes them."""
    if not (args.nics or args.networks or args.ports):
        return
    from cli.commands import network

    if args.nics in (["none"], ["auto"]) and not (args.networks or args.ports):
        server.no_network = args.nics == ["none"]
        return
    for text in args.nics:
        if text in ("none", "auto"):
            raise UsageError(f"--nic {text} cannot be combined with other interfaces")
        nic = network.pairs(text, {"net-id", "v4-fixed-ip", "v6-fixed-ip", "port-id"})
        fixed = nic.get("v4-fixed-ip") or nic.get("v6-fixed-ip") or ""
        if ("net-id" in nic) == ("port-id" in nic):
            raise UsageError("--nic takes net-id=NET (with a fixed IP if wanted) or port-id=PORT")
        if "port-id" in nic:
            server.networks.add(port_id=network.find_port(ctx, nic["port-id"]).id)
        else:
            found = network.find_network(ctx, nic["net-id"]).id
            server.networks.add(network_id=found, fixed_ip=fixed)
    for name in args.networks:
        server.networks.add(network_id=network.find_network(ctx, name).id)
    for name in args.ports:
        server.networks.add(port_id=network.find_port(ctx, name).id)


@command("server create", help="create a server", output="show", columns=SERVER_FIELDS)
@arg("name", help="new server name")
@arg("--flavor", required=True, help="flavor name or ID")
@arg("--image", required=True, help="image name or ID")
@arg("--key-name", default="", help="key pair to inject")
@arg("--availability-zone", default="", help="zone to boot in")
@arg(
    "--hint",
    dest="hints",
    type=resources.key_value,
    action="append",
    default=[],
    metavar="KEY=VALUE",
    help="scheduler hint: group=SERVER_GROUP",
)
@resources.properties_arg("metadata (repeat for more)")
@arg("--user-data", metavar="FILE", completer="file", help="file handed to the guest")
@arg(
    "--config-drive",
    type=str.lower,
    choices=["true", "false"],
    help="attach a config drive with metadata, keys and user data (default: true)",
)
@arg(
    "--nic",
    dest="nics",
    action="append",
    default=[],
    metavar="net-id=NET,v4-fixed-ip=IP,v6-fixed-ip=IP,port-id=PORT|none|auto",
    help="a network interface (repeat for more); none: no interface; auto (default): the one"
    " usable network, if there is one",
)
@arg("--network", dest="networks", action="append", default=[], help="network name or ID")
@arg("--port", dest="ports", action="append", default=[], help="port name or ID")
@arg("--wait", action="store_true", help="wait until the server is ACTIVE (or ERROR)")
def server_create(ctx, args):
    hints = dict(args.hints)
    unknown = set(hints) - {"group"}
    if unknown:
        raise UsageError(f"unknown scheduler hint {', '.join(sorted(unknown))}; known: group")
    server = pb.Server(
        name=args.name,
        flavor_id=find_flavor(ctx, args.flavor).id,
        image_id=image_id(ctx, args.image),
        key_name=args.key_name,
        availability_zone=args.availability_zone,
        metadata=dict(args.properties),
    )
    if "group" in hints:
        server.server_group_id = find_group(ctx, hints["group"]).id
    if args.user_data:
        server.user_data = Path(args.user_data).read_bytes()
    if args.config_drive is not None:
        server.config_drive = args.config_drive == "true"
    add_networks(ctx, server, args)
    # One request id for the retries of this one command: the server is created once.
    created = call(
        ctx, "CreateServer", pb.CreateServerRequest(server=server, request_id=str(uuid.uuid4()))
    )
    if args.wait:
        created = watch(ctx, created, f"server {created.name}", "ACTIVE")
    return show_server(created)


def server_columns(image_name) -> resources.Columns:
    """The columns of `server list`; `image_name(image_id)` names the image."""
    return resources.Columns(
        [
            ("ID", "id"),
            ("Name", "name"),
            ("Status", status),
            ("Networks", networks),
            ("Image", lambda s: image_name(s.image_id)),
            ("Flavor", lambda s: s.flavor.name or s.flavor_id),
        ],
        long=[
            ("Task State", lambda s: resources.enum_name(TASK, s.task_state)),
            ("Power State", "power_state"),
            ("Availability Zone", "availability_zone"),
            ("Host", "host"),
            ("Properties", "metadata"),
        ],
    )


def with_image_names(pages, names):
    """The servers of `pages`, each page's image names looked up before its rows show."""
    for page in pages:
        names.learn([server.image_id for server in page])
        yield from page


@command(
    "server list",
    help="list servers",
    output="list",
    columns=server_columns(image_name=None).headings,
)
@arg("--all-projects", action="store_true", help="every project's servers (admins)")
@arg("--project", help="only this project's servers (admins, with --all-projects)")
@arg("--name", default="", help="servers whose name contains this")
@arg(
    "--status",
    type=str.upper,
    choices=[s.upper() for s in resources.enum_choices(STATUS)],
    help="only servers in this status",
)
@arg("--host", default="", help="only servers on this host (admins)")
@arg("--flavor", help="only servers of this flavor (name or ID)")
@arg("--image", help="only servers of this image (name or ID)")
@arg("--long", action="store_true", help="list more columns")
def server_list(ctx, args):
    request = pb.ListServersRequest(
        all_projects=args.all_projects or bool(args.project), name=args.name, host=args.host
    )
    if args.project:
        request.project_id = project_id(ctx, args.project)
    if args.status:
        request.status = resources.enum_number(STATUS, args.status)
    if args.flavor:
        request.flavor_id = find_flavor(ctx, args.flavor).id
    if args.image:
        request.image_id = image_id(ctx, args.image)
    from cli.commands import image

    names = image.ImageNames(ctx)
    pages = ctx.session.pages(compute(ctx).ListServers, request, "servers")
    return resources.listing(
        with_image_names(pages, names), server_columns(names.name).chosen(args)
    )


@command("server show", help="show a server's details", output="show", columns=SERVER_FIELDS)
@arg("server", help="server name or ID")
def server_show(ctx, args):
    return show_server(find_server(ctx, args.server))


@command("server set", help="change a server's name or properties")
@arg("server", help="server name or ID")
@arg("--name", help="new name")
@resources.properties_arg("metadata to set (repeat for more)")
def server_set(ctx, args):
    server = find_server(ctx, args.server)
    paths = []
    if args.name:
        server.name = args.name
        paths.append("name")
    if args.properties:
        server.metadata.update(dict(args.properties))
        paths.append("metadata")
    if not paths:
        raise UsageError("nothing to change: give --name or --property")
    call(
        ctx,
        "UpdateServer",
        pb.UpdateServerRequest(server=server, update_mask=field_mask_pb2.FieldMask(paths=paths)),
    )


@command("server delete", help="delete servers")
@arg("servers", nargs="+", metavar="SERVER", help="server name or ID")
@arg("--wait", action="store_true", help="wait until they are gone")
def server_delete(ctx, args):
    deleted = []

    def delete(name):
        server = find_server(ctx, name)
        call(ctx, "DeleteServer", pb.DeleteServerRequest(id=server.id))
        deleted.append(server)

    resources.delete_each(ctx, "server", args.servers, delete)
    for server in deleted if args.wait else ():
        try:
            watch(
                ctx,
                server,
                f"server {server.name}",
                "DELETED",
                done=lambda s: status(s) == "DELETED",
                failed=lambda s: False,
            )
        except resources.grpc.RpcError as e:
            if e.code() != resources.grpc.StatusCode.NOT_FOUND:  # already gone
                raise
            ctx.stderr.write(f"server {server.name}: DELETED\n")


def action(
    verb: str,
    method: str,
    request_cls,
    target: str,
    help: str,
    *extra_args,
    request_options=lambda args: {},
):
    """Registers `server <verb> SERVER... [--wait]`, which ends in `target` status."""

    def run(ctx, args):
        for name in args.servers:
            server = find_server(ctx, name)
            changed = call(ctx, method, request_cls(id=server.id, **request_options(args)))
            if args.wait:
                watch(ctx, changed, f"server {server.name}", target)

    for extra in reversed(extra_args):
        run = extra(run)
    run = arg("--wait", action="store_true", help=f"wait until the server is {target}")(run)
    run = arg("servers", nargs="+", metavar="SERVER", help="server name or ID")(run)
    return command(f"server {verb}", help=help)(run)


action("stop", "StopServer", pb.StopServerRequest, "SHUTOFF", "stop servers")
action(
    "shelve",
    "ShelveServer",
    pb.ShelveServerRequest,
    "SHELVED_OFFLOADED",
    "shelve servers: their disks saved into images, their hosts freed",
)
action("unshelve", "UnshelveServer", pb.UnshelveServerRequest, "ACTIVE", "unshelve servers")
action(
    "evacuate",
    "EvacuateServer",
    pb.EvacuateServerRequest,
    "ACTIVE",
    "build servers of a down and disabled host again on another host (admins)",
)
action(
    "migrate",
    "MigrateServer",
    pb.MigrateServerRequest,
    "VERIFY_RESIZE",
    "move servers to another host (admins); confirm with server resize --confirm",
)
action("start", "StartServer", pb.StartServerRequest, "ACTIVE", "start servers")
action("pause", "PauseServer", pb.PauseServerRequest, "PAUSED", "pause servers")
action("unpause", "UnpauseServer", pb.UnpauseServerRequest, "ACTIVE", "unpause servers")
action("suspend", "SuspendServer", pb.SuspendServerRequest, "SUSPENDED", "suspend servers")
action("resume", "ResumeServer", pb.ResumeServerRequest, "ACTIVE", "resume servers")
action(
    "reboot",
    "RebootServer",
    pb.RebootServerRequest,
    "ACTIVE",
    "reboot servers",
    arg("--hard", dest="hard", action="store_true", default=False, help="power-cycle the server"),
    arg("--soft", dest="hard", action="store_false", help="ask the guest to restart (default)"),
    request_options=lambda args: {
        "type": pb.REBOOT_TYPE_HARD if args.hard else pb.REBOOT_TYPE_SOFT
    },
)


@command(
    "server image create",
    help="snapshot a server into a new image",
    output="show",
    columns=resources.fields_of(image_commands.show_image, image_pb.Image),
)
@arg("server", help="server name or ID")
@arg("--name", default="", help="the image's name (default: the server's)")
@resources.properties_arg("image property to add (repeat for more)")
@arg("--wait", action="store_true", help="wait until the snapshot is done")
def server_image_create(ctx, args):
    server = find_server(ctx, args.server)
    made = call(
        ctx,
        "CreateServerImage",
        pb.CreateServerImageRequest(
            server_id=server.id,
            name=args.name or server.name,
            metadata=dict(args.properties),
        ),
    )
    if args.wait:
        watch(
            ctx,
            made.server,
            f"server {server.name}",
            status(made.server),
            done=lambda s: s.task_state != pb.TASK_STATE_IMAGE_SNAPSHOT,
        )
    image = image_commands.call(ctx, "GetImage", image_pb.GetImageRequest(id=made.image_id))
    return image_commands.show_image(image)


@command(
    "server rebuild", help="rebuild a server from an image", output="show", columns=SERVER_FIELDS
)
@arg("server", help="server name or ID")
@arg("--image", help="image name or ID (default: the server's)")
@arg("--name", default="", help="new name")
@arg("--user-data", metavar="FILE", completer="file", help="new user data")
@arg("--no-user-data", action="store_true", help="remove the user data")
@arg("--key-name", help="new key pair")
@arg("--no-key-name", action="store_true", help="remove the key pair")
@arg("--wait", action="store_true", help="wait until the server is ACTIVE (or ERROR)")
def server_rebuild(ctx, args):
    server = find_server(ctx, args.server)
    request = pb.RebuildServerRequest(id=server.id, name=args.name)
    if args.image:
        request.image_id = image_id(ctx, args.image)
    if args.user_data:
        request.user_data = Path(args.user_data).read_bytes()
    elif args.no_user_data:
        request.user_data = b""
    if args.key_name:
        request.key_name = args.key_name
    elif args.no_key_name:
        request.key_name = ""
    rebuilt = call(ctx, "RebuildServer", request)
    if args.wait:
        rebuilt = watch(ctx, rebuilt, f"server {server.name}", "ACTIVE")
    return show_server(rebuilt)


@command("server resize", help="resize a server, or confirm or revert its resize")
@arg("server", help="server name or ID")
@arg("--flavor", help="the new flavor's name or ID")
@arg("--confirm", action="store_true", help="confirm the resize (VERIFY_RESIZE -> ACTIVE)")
@arg("--revert", action="store_true", help="revert the resize (the flavor and host before)")
@arg("--wait", action="store_true", help="wait until the step is done")
def server_resize(ctx, args):
    if [bool(args.flavor), args.confirm, args.revert].count(True) != 1:
        raise UsageError("give one of --flavor, --confirm or --revert")
    server = find_server(ctx, args.server)
    if args.flavor:
        request = pb.ResizeServerRequest(id=server.id, flavor_id=find_flavor(ctx, args.flavor).id)
        changed, goal = call(ctx, "ResizeServer", request), "VERIFY_RESIZE"
    elif args.confirm:
        changed = call(ctx, "ConfirmServerResize", pb.ConfirmServerResizeRequest(id=server.id))
        goal = "ACTIVE"
    else:
        changed = call(ctx, "RevertServerResize", pb.RevertServerResizeRequest(id=server.id))
        goal = "ACTIVE"
    if args.wait:
        watch(ctx, changed, f"server {server.name}", goal)


@command("server lock", help="lock servers: only admins may then act on them")
@arg("servers", nargs="+", metavar="SERVER", help="server name or ID")
@arg("--reason", default="", help="why the server is locked")
def server_lock(ctx, args):
    for name in args.servers:
        server = find_server(ctx, name)
        call(ctx, "LockServer", pb.LockServerRequest(id=server.id, reason=args.reason))


@command("server unlock", help="unlock servers")
@arg("servers", nargs="+", metavar="SERVER", help="server name or ID")
def server_unlock(ctx, args):
    for name in args.servers:
        call(ctx, "UnlockServer", pb.UnlockServerRequest(id=find_server(ctx, name).id))


@command("console log show", help="show a server's console output")
@command("server console log", help="show a server's console output")
@arg("server", help="server name or ID")
@arg("--lines", type=int, default=0, help="only the last LINES lines")
def console_log(ctx, args):
    server = find_server(ctx, args.server)
    output = call(
        ctx, "GetConsoleOutput", pb.GetConsoleOutputRequest(server_id=server.id, lines=args.lines)
    ).output
    if not output:  # say so: an empty stdout alone looks like a command that did nothing
        ctx.stderr.write(
            f"stratus: the console log of server {server.name} is empty: its "
            "guest has written nothing to its serial console\n"
        )
        return
    ctx.stdout.write(output if output.endswith("\n") else output + "\n")


def event_columns(server_id: str) -> resources.Columns:
    return resources.Columns(
        [
            ("Request ID", "request_id"),
            ("Server ID", lambda a: server_id),
            ("Action", "action"),
            ("Start Time", "start_time"),
        ],
        long=[
            ("Finish Time", "finish_time"),
            ("Result", "result"),
            ("Message", "message"),
            ("User ID", "user_id"),
        ],
    )


def show_event(action, server_id: str = ""):
    result = resources.show(action, extra={"server_id": server_id})
    result.fields["events"] = "\n".join(
        f"{e['event']}: {e['result']}" for e in result.fields["events"]
    )
    return result


@command(
    "server event list",
    help="list what was done to a server",
    output="list",
    columns=event_columns("").headings,
)
@arg("server", help="server name or ID")
@arg("--long", action="store_true", help="list more columns")
def server_event_list(ctx, args):
    server = find_server(ctx, args.server)
    actions = ctx.session.paged(
        compute(ctx).ListServerActions, pb.ListServerActionsRequest(server_id=server.id), "actions"
    )
    return resources.listing(actions, event_columns(server.id).chosen(args))


@command(
    "server event show",
    help="show one action on a server and its steps",
    output="show",
    columns=resources.fields_of(show_event, pb.ServerAction),
)
@arg("server", help="server name or ID")
@arg("request_id", help="request ID of the action")
def server_event_show(ctx, args):
    server = find_server(ctx, args.server)
    for found in ctx.session.paged(
        compute(ctx).ListServerActions, pb.ListServerActionsRequest(server_id=server.id), "actions"
    ):
        if found.request_id == args.request_id:
            return show_event(found, server.id)
    raise resources.NotFoundError(
        f"no action with request ID {args.request_id!r} on server {server.name}"
    )


# -- key pairs ---------------------------------------------------------------------------

KEYPAIR_CREATED = ("private_key", "public_key")  # create shows neither key


def show_keypair(key_pair, drop=("private_key",)):
    return resources.show(key_pair, drop=drop)


@command(
    "keypair create",
    help="create or import an SSH key pair",
    output="show",
    columns=resources.fields_of(lambda k: show_keypair(k, KEYPAIR_CREATED), pb.KeyPair),
)
@arg("name", help="new key pair name")
@arg("--public-key", metavar="FILE", completer="file", help="import this public key")
@arg(
    "--private-key",
    metavar="FILE",
    completer="file",
    help="write the generated private key to this file (default: print it)",
)
def keypair_create(ctx, args):
    key_pair = pb.KeyPair(name=args.name)
    if args.public_key:
        key_pair.public_key = Path(args.public_key).read_text().strip()
    created = call(ctx, "CreateKeyPair", pb.CreateKeyPairRequest(key_pair=key_pair))
    if created.private_key and not args.private_key:
        ctx.stdout.write(created.private_key)  # shown once, as the openstack client does
        return None
    if created.private_key:
        path = Path(args.private_key)
        with open(path, "x") as f:  # never overwrite a key
            path.chmod(0o600)
            f.write(created.private_key)
    return show_keypair(created, KEYPAIR_CREATED)


KEYPAIR_COLUMNS = resources.Columns([("Name", "name"), ("Fingerprint", "fingerprint")])


@command(
    "keypair list", help="list your key pairs", output="list", columns=KEYPAIR_COLUMNS.headings
)
@arg("--user", help="another user's key pairs (admins; name or ID)")
def keypair_list(ctx, args):
    request = pb.ListKeyPairsRequest()
    if args.user:
        from cli.commands import identity

        request.user_id = identity.find_user(ctx, args.user).id
    return resources.listing(
        ctx.session.paged(compute(ctx).ListKeyPairs, request, "key_pairs"),
        KEYPAIR_COLUMNS.chosen(args),
    )


@command(
    "keypair show",
    help="show a key pair's details",
    output="show",
    columns=resources.fields_of(show_keypair, pb.KeyPair),
)
@arg("name", help="key pair name")
@arg("--public-key", action="store_true", help="print only the public key")
def keypair_show(ctx, args):
    found = call(ctx, "GetKeyPair", pb.GetKeyPairRequest(name=args.name))
    if args.public_key:
        ctx.stdout.write(found.public_key.rstrip("\n") + "\n")
        return None
    return show_keypair(found)


@command("keypair delete", help="delete key pairs")
@arg("names", nargs="+", metavar="KEY", help="key pair name")
def keypair_delete(ctx, args):
    resources.delete_each(
        ctx,
        "key pair",
        args.names,
        lambda name: call(ctx, "DeleteKeyPair", pb.DeleteKeyPairRequest(name=name)),
    )


# -- server groups -----------------------------------------------------------------------


def policy(found) -> str | None:
    return resources.enum_name(POLICY, found.policy, dash=True)


def show_group(found):
    return resources.show(found, rename={"member_ids": "members"}, extra={"policy": policy(found)})


GROUP_FIELDS = resources.fields_of(show_group, pb.ServerGroup)


@command("server group create", help="create a server group", output="show", columns=GROUP_FIELDS)
@arg("name", help="new server group name")
@arg(
    "--policy",
    choices=resources.enum_choices(POLICY, dash=True),
    default="affinity",
    help="placement policy (default affinity)",
)
@arg(
    "--rule",
    dest="rules",
    type=resources.key_value,
    action="append",
    default=[],
    metavar="KEY=VALUE",
    help="max_server_per_host=N (anti-affinity)",
)
def server_group_create(ctx, args):
    rules = dict(args.rules)
    if set(rules) - {"max_server_per_host"}:
        raise UsageError("the only rule is max_server_per_host=N")
    group_ = pb.ServerGroup(
        name=args.name,
        policy=resources.enum_number(POLICY, args.policy),
        max_server_per_host=int(rules.get("max_server_per_host", 0)),
    )
    return show_group(
        call(ctx, "CreateServerGroup", pb.CreateServerGroupRequest(server_group=group_))
    )


GROUP_COLUMNS = resources.Columns(
    [("ID", "id"), ("Name", "name"), ("Policy", policy)],
    long=[("Members", "member_ids"), ("Project Id", "project_id"), ("User Id", "user_id")],
)


@command(
    "server group list", help="list server groups", output="list", columns=GROUP_COLUMNS.headings
)
@arg("--all-projects", action="store_true", help="every project's (admins)")
@arg("--long", action="store_true", help="list more columns")
def server_group_list(ctx, args):
    return resources.listing(
        ctx.session.paged(
            compute(ctx).ListServerGroups,
            pb.ListServerGroupsRequest(all_projects=args.all_projects),
            "server_groups",
        ),
        GROUP_COLUMNS.chosen(args),
    )


@command(
    "server group show", help="show a server group's details", output="show", columns=GROUP_FIELDS
)
@arg("group", help="server group name or ID")
def server_group_show(ctx, args):
    return show_group(find_group(ctx, args.group))


@command("server group delete", help="delete server groups")
@arg("groups", nargs="+", metavar="GROUP", help="server group name or ID")
def server_group_delete(ctx, args):
    resources.delete_each(
        ctx,
        "server group",
        args.groups,
        lambda name: call(
            ctx, "DeleteServerGroup", pb.DeleteServerGroupRequest(id=find_group(ctx, name).id)
        ),
    )


# -- quotas ------------------------------------------------------------------------------

QUOTA_COLUMNS = ("Resource", "Limit", "In Use")


@command(
    "quota show", help="show a project's limits and usage", output="list", columns=QUOTA_COLUMNS
)
@arg("project", nargs="?", help="project name or ID (default: yours)")
def quota_show(ctx, args):
    request = pb.GetQuotasRequest()
    if args.project:
        request.project_id = project_id(ctx, args.project)
    quotas = call(ctx, "GetQuotas", request)
    return resources.ListResult(
        QUOTA_COLUMNS,
        [[name, getattr(quotas.limits, name), getattr(quotas.usage, name)] for name in QUOTAS],
    )


@command("quota set", help="set a project's limits (-1: unlimited)")
@arg("project", help="project name or ID")
@arg("--default", action="store_true", help="go back to the configured defaults")
@arg("--instances", type=int, help="servers")
@arg("--cores", type=int, help="virtual CPUs")
@arg("--ram", dest="ram_mb", type=int, help="memory in MB")
@arg("--key-pairs", type=int, help="key pairs per user")
@arg("--server-groups", type=int, help="server groups")
@arg("--server-group-members", type=int, help="servers per server group")
def quota_set(ctx, args):
    project = project_id(ctx, args.project)
    if args.default:
        call(ctx, "DeleteQuotas", pb.DeleteQuotasRequest(project_id=project))
        return
    limits = {name: getattr(args, name) for name in QUOTAS if getattr(args, name) is not None}
    if not limits:
        raise UsageError("nothing to change: give at least one limit, or --default")
    call(
        ctx,
        "UpdateQuotas",
        pb.UpdateQuotasRequest(
            quotas=pb.Quotas(project_id=project, limits=pb.QuotaValues(**limits)),
            update_mask=field_mask_pb2.FieldMask(paths=[f"limits.{n}" for n in limits]),
        ),
    )


# -- zones, services, hypervisors ------------------------------------------------------------

ZONE_COLUMNS = resources.Columns(
    [
        ("Zone Name", "name"),
        ("Zone Status", lambda z: "available" if z.available else "not available"),
    ],
    long=[("Hosts", "hosts")],
)


@command(
    "availability zone list",
    help="list availability zones",
    output="list",
    columns=ZONE_COLUMNS.headings,
)
@arg("--long", action="store_true", help="list the hosts too (admins)")
def availability_zone_list(ctx, args):
    return resources.listing(
        ctx.session.paged(
            compute(ctx).ListAvailabilityZones,
            pb.ListAvailabilityZonesRequest(),
            "availability_zones",
        ),
        ZONE_COLUMNS.chosen(args),
    )


SERVICE_COLUMNS = resources.Columns(
    [
        ("ID", "id"),
        ("Binary", lambda s: "stratus-compute"),
        ("Host", "host"),
        ("Zone", "availability_zone"),
        ("Status", "status"),
        ("State", "state"),
        ("Updated At", "heartbeat_time"),
    ],
    long=[("Disabled Reason", "disabled_reason")],
)


@command(
    "compute service list",
    help="list compute services (admins)",
    output="list",
    columns=SERVICE_COLUMNS.headings,
)
@arg("--host", default="", help="only this host's")
@arg("--long", action="store_true", help="list the reason for disabling too")
def compute_service_list(ctx, args):
    return resources.listing(
        ctx.session.paged(
            compute(ctx).ListComputeServices,
            pb.ListComputeServicesRequest(host=args.host),
            "services",
        ),
        SERVICE_COLUMNS.chosen(args),
    )


@command("compute service set", help="enable or disable a host's compute service (admins)")
@arg("host", help="host name")
@arg("--enable", dest="enabled", action="store_true", default=None, help="enable it")
@arg("--disable", dest="enabled", action="store_false", help="disable it: no new servers")
@arg("--disable-reason", default="", help="why, for other operators")
def compute_service_set(ctx, args):
    if args.enabled is None:
        raise UsageError("give --enable or --disable")
    services = list(
        ctx.session.paged(
            compute(ctx).ListComputeServices,
            pb.ListComputeServicesRequest(host=args.host),
            "services",
        )
    )
    services = [s for s in services if s.host == args.host]
    if not services:
        raise resources.NotFoundError(f"no compute service on host {args.host!r}")
    for service in services:
        if args.enabled:
            call(ctx, "EnableComputeService", pb.EnableComputeServiceRequest(id=service.id))
        else:
            call(
                ctx,
                "DisableComputeService",
                pb.DisableComputeServiceRequest(id=service.id, reason=args.disable_reason),
            )


HYPERVISOR_COLUMNS = resources.Columns(
    [
        ("ID", "id"),
        ("Hypervisor Hostname", "hostname"),
        ("Hypervisor Type", "hypervisor_type"),
        ("Host IP", "host_ip"),
        ("State", "state"),
    ],
    long=[
        ("vCPUs Used", "vcpus_used"),
        ("vCPUs", "vcpus"),
        ("Memory MB Used", "memory_mb_used"),
        ("Memory MB", "memory_mb"),
    ],
)


@command(
    "hypervisor list",
    help="list hypervisors (admins)",
    output="list",
    columns=HYPERVISOR_COLUMNS.headings,
)
@arg("--matching", default="", help="host names containing this")
@arg("--long", action="store_true", help="list more columns")
def hypervisor_list(ctx, args):
    return resources.listing(
        ctx.session.paged(
            compute(ctx).ListHypervisors,
            pb.ListHypervisorsRequest(hostname=args.matching),
            "hypervisors",
        ),
        HYPERVISOR_COLUMNS.chosen(args),
    )


@command(
    "hypervisor show",
    help="show a hypervisor's details (admins)",
    output="show",
    columns=resources.fields_of(resources.show, pb.Hypervisor),
)
@arg("hypervisor", help="hypervisor host name or ID")
def hypervisor_show(ctx, args):
    def named(name):
        found = ctx.session.paged(
            compute(ctx).ListHypervisors, pb.ListHypervisorsRequest(hostname=name), "hypervisors"
        )
        return [h for h in found if h.hostname == name]

    found = resources.find(
        "hypervisor",
        args.hypervisor,
        any_id=True,
        by_name=named,
        get=lambda i: call(ctx, "GetHypervisor", pb.GetHypervisorRequest(id=i)),
    )
    found = call(ctx, "GetHypervisor", pb.GetHypervisorRequest(id=found.id, with_servers=True))
    result = resources.show(found)
    result.fields["servers"] = [f"{s['name']} ({s['id']})" for s in result.fields["servers"]]
    return result


@command(
    "hypervisor stats show",
    help="show totals over every hypervisor (admins)",
    output="show",
    columns=resources.fields_of(resources.show, pb.HypervisorStatistics),
)
def hypervisor_stats_show(ctx, args):
    return resources.show(call(ctx, "GetHypervisorStatistics", pb.GetHypervisorStatisticsRequest()))
