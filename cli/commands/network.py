"""Networks, subnets, ports, security groups and their rules, with the openstack client's
names and flags (`openstack network create --provider-network-type flat ...`)."""

from __future__ import annotations

from google.protobuf import field_mask_pb2

from cli import resources
from cli.commands.identity import enable_flags
from cli.errors import UsageError
from cli.registry import arg, command, group
from stratus.network.v1 import network_service_pb2 as pb
from stratus.network.v1 import network_service_pb2_grpc as pb_grpc

group("network", "networks: tenant (VXLAN) and provider (flat, VLAN) ones")
group("subnet", "a network's address ranges, gateways and DHCP")
group("port", "a network interface's MAC, addresses and security groups")
group("security group", "firewall rules applied to ports")
group("security group rule", "one rule of a security group")

NETWORK_TYPE = pb.NetworkType.DESCRIPTOR
PORT_STATUS = pb.PortStatus.DESCRIPTOR
DIRECTION = pb.RuleDirection.DESCRIPTOR


def network(ctx) -> pb_grpc.NetworkServiceStub:
    return ctx.session.stub(pb_grpc.NetworkServiceStub)


def call(ctx, method: str, request):
    return ctx.session.call(getattr(network(ctx), method), request)


def paged(ctx, method: str, request, field: str):
    return ctx.session.paged(getattr(network(ctx), method), request, field)


def update(ctx, method: str, request_cls, field: str, resource, changes: dict):
    """An Update of the fields in `changes` (None = unchanged), with their mask."""
    changes = {k: v for k, v in changes.items() if v is not None}
    if not changes:
        raise UsageError("nothing to change: give at least one option")
    for name, value in changes.items():
        target = getattr(resource, name)
        if hasattr(target, "extend"):
            del target[:]
            target.extend(value)
        else:
            setattr(resource, name, value)
    mask = field_mask_pb2.FieldMask(paths=list(changes))
    return call(ctx, method, request_cls(**{field: resource}, update_mask=mask))


def pairs(text: str, known: set[str]) -> dict[str, str]:
    """`key=value,key=value` as the openstack client takes `--fixed-ip`, `--nic` and others."""
    found = dict(resources.key_value(part) for part in text.split(",") if part)
    unknown = set(found) - known
    if unknown:
        raise UsageError(
            f"unknown key {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}"
        )
    return found


# -- lookups -----------------------------------------------------------------------------


def _finder(kind: str, get: str, get_request, list_method: str, list_request, field: str):
    def find(ctx, name_or_id):
        return resources.find(
            kind,
            name_or_id,
            get=lambda i: call(ctx, get, get_request(id=i)),
            by_name=lambda n: [
                r for r in paged(ctx, list_method, list_request(name=n), field) if r.name == n
            ],
        )

    return find


find_network = _finder(
    "network",
    "GetNetwork",
    pb.GetNetworkRequest,
    "ListNetworks",
    pb.ListNetworksRequest,
    "networks",
)
find_subnet = _finder(
    "subnet", "GetSubnet", pb.GetSubnetRequest, "ListSubnets", pb.ListSubnetsRequest, "subnets"
)
find_port = _finder("port", "GetPort", pb.GetPortRequest, "ListPorts", pb.ListPortsRequest, "ports")
find_group = _finder(
    "security group",
    "GetSecurityGroup",
    pb.GetSecurityGroupRequest,
    "ListSecurityGroups",
    pb.ListSecurityGroupsRequest,
    "security_groups",
)


def delete_all(ctx, kind: str, names, find, method: str, request_cls) -> None:
    """`<kind> delete NAME...`: each found by name or ID, going on past failures."""
    resources.delete_each(
        ctx, kind, names, lambda name: call(ctx, method, request_cls(id=find(ctx, name).id))
    )


def find_rule(ctx, rule_id: str):
    return call(ctx, "GetSecurityGroupRule", pb.GetSecurityGroupRuleRequest(id=rule_id))


def project_id(ctx, name_or_id: str) -> str:
    from cli.commands import identity

    return identity.find_project(ctx, name_or_id).id


# -- networks ----------------------------------------------------------------------------


def show_network(found):
    return resources.show(
        found,
        rename={
            "network_type": "provider:network_type",
            "physical_network": "provider:physical_network",
            "segmentation_id": "provider:segmentation_id",
            "subnet_ids": "subnets",
            "external": "router:external",
        },
    )


NETWORK_FIELDS = resources.fields_of(show_network, pb.Network)


def share_flags(func):
    func = arg(
        "--no-share",
        dest="share",
        action="store_false",
        default=None,
        help="only its project may use it",
    )(func)
    return arg(
        "--share",
        dest="share",
        action="store_true",
        default=None,
        help="every project may use it (admins)",
    )(func)


def external_flags(func):
    func = arg(
        "--internal",
        dest="external",
        action="store_false",
        default=None,
        help="not reachable from outside (default)",
    )(func)
    return arg(
        "--external",
        dest="external",
        action="store_true",
        default=None,
        help="reachable from outside (admins)",
    )(func)


@command("network create", help="create a network", output="show", columns=NETWORK_FIELDS)
@arg("name", help="new network name")
@arg("--description", default="", help="description")
@arg("--project", help="owner project name or ID (admins)")
@arg(
    "--provider-network-type",
    choices=resources.enum_choices(NETWORK_TYPE),
    help="flat, vlan or vxlan (admins; default: a tenant vxlan network)",
)
@arg(
    "--provider-physical-network",
    default="",
    metavar="NAME",
    help="the physical network of a flat or vlan network",
)
@arg("--provider-segment", type=int, default=0, metavar="ID", help="VLAN id or VXLAN VNI")
@arg("--mtu", type=int, default=0, help="MTU (default: the largest the network type allows)")
@share_flags
@external_flags
@enable_flags("network")
def network_create(ctx, args):
    found = pb.Network(
        name=args.name,
        description=args.description,
        physical_network=args.provider_physical_network,
        segmentation_id=args.provider_segment,
        mtu=args.mtu,
        shared=bool(args.share),
        external=bool(args.external),
        admin_state_up=args.enabled is not False,
    )
    if args.provider_network_type:
        found.network_type = resources.enum_number(NETWORK_TYPE, args.provider_network_type)
    if args.project:
        found.project_id = project_id(ctx, args.project)
    return show_network(call(ctx, "CreateNetwork", pb.CreateNetworkRequest(network=found)))


NETWORK_COLUMNS = resources.Columns(
    [("ID", "id"), ("Name", "name"), ("Subnets", lambda n: ", ".join(n.subnet_ids))],
    long=[
        ("Project", "project_id"),
        ("Network Type", lambda n: resources.enum_name(NETWORK_TYPE, n.network_type)),
        ("Shared", "shared"),
        ("Router Type", lambda n: "External" if n.external else "Internal"),
        ("State", lambda n: "UP" if n.admin_state_up else "DOWN"),
    ],
)


@command("network list", help="list networks", output="list", columns=NETWORK_COLUMNS.headings)
@arg("--name", default="", help="only networks of this name")
@arg("--project", help="only this project's")
@arg("--share", action="store_true", help="only shared networks")
@arg("--external", action="store_true", help="only external networks")
@arg("--all-projects", action="store_true", help="every project's (admins)")
@arg("--long", action="store_true", help="list more columns")
def network_list(ctx, args):
    request = pb.ListNetworksRequest(
        name=args.name, shared=args.share, external=args.external, all_projects=args.all_projects
    )
    if args.project:
        request.project_id = project_id(ctx, args.project)
    return resources.listing(
        paged(ctx, "ListNetworks", request, "networks"), NETWORK_COLUMNS.chosen(args)
    )


@command("network show", help="show a network's details", output="show", columns=NETWORK_FIELDS)
@arg("network", help="network name or ID")
def network_show(ctx, args):
    return show_network(find_network(ctx, args.network))


@command("network set", help="change a network")
@arg("network", help="network name or ID")
@arg("--name", help="new name")
@arg("--description", help="new description")
@arg("--mtu", type=int, help="new MTU")
@share_flags
@external_flags
@enable_flags("network")
def network_set(ctx, args):
    update(
        ctx,
        "UpdateNetwork",
        pb.UpdateNetworkRequest,
        "network",
        find_network(ctx, args.network),
        {
            "name": args.name,
            "description": args.description,
            "mtu": args.mtu,
            "shared": args.share,
            "external": args.external,
            "admin_state_up": args.enabled,
        },
    )


@command("network delete", help="delete networks")
@arg("networks", nargs="+", metavar="NETWORK", help="network name or ID")
def network_delete(ctx, args):
    delete_all(
        ctx, "network", args.networks, find_network, "DeleteNetwork", pb.DeleteNetworkRequest
    )


# -- subnets -----------------------------------------------------------------------------


def show_subnet(found):
    return resources.show(
        found,
        drop=("no_gateway",),
        extra={
            "allocation_pools": ", ".join(f"{p.start}-{p.end}" for p in found.allocation_pools),
            "host_routes": ", ".join(
                f"destination={r.destination},gateway={r.nexthop}" for r in found.host_routes
            ),
            "gateway_ip": found.gateway_ip or None,
        },
        rename={"enable_dhcp": "enable_dhcp"},
    )


SUBNET_FIELDS = resources.fields_of(show_subnet, pb.Subnet)


def _routes(values) -> list[pb.HostRoute]:
    found = []
    for text in values:
        route = pairs(text, {"destination", "gateway"})
        if set(route) != {"destination", "gateway"}:
            raise UsageError("--host-route takes destination=CIDR,gateway=IP")
        found.append(pb.HostRoute(destination=route["destination"], nexthop=route["gateway"]))
    return found


def dhcp_flags(func):
    func = arg(
        "--no-dhcp", dest="dhcp", action="store_false", default=None, help="no DHCP on this subnet"
    )(func)
    return arg(
        "--dhcp",
        dest="dhcp",
        action="store_true",
        default=None,
        help="DHCP on this subnet (default)",
    )(func)


@command("subnet create", help="create a subnet", output="show", columns=SUBNET_FIELDS)
@arg("name", help="new subnet name")
@arg("--network", required=True, help="network name or ID")
@arg("--subnet-range", required=True, metavar="CIDR", help="e.g. 10.0.0.0/24")
@arg("--ip-version", type=int, choices=[4, 6], default=0, help="4 or 6 (default: the range's)")
@arg("--gateway", default="auto", help="IP, auto (the first address) or none")
@arg(
    "--allocation-pool",
    dest="pools",
    action="append",
    default=[],
    metavar="start=IP,end=IP",
    help="addresses to allocate from (repeat for more)",
)
@arg(
    "--dns-nameserver",
    dest="dns",
    action="append",
    default=[],
    metavar="IP",
    help="name server handed to guests (repeat for more)",
)
@arg(
    "--host-route",
    dest="routes",
    action="append",
    default=[],
    metavar="destination=CIDR,gateway=IP",
    help="extra route for guests (repeat for more)",
)
@arg("--description", default="", help="description")
@dhcp_flags
def subnet_create(ctx, args):
    found = pb.Subnet(
        name=args.name,
        network_id=find_network(ctx, args.network).id,
        cidr=args.subnet_range,
        ip_version=args.ip_version,
        dns_nameservers=args.dns,
        host_routes=_routes(args.routes),
        description=args.description,
        enable_dhcp=args.dhcp is not False,
    )
    if args.gateway == "none":
        found.no_gateway = True
    elif args.gateway != "auto":
        found.gateway_ip = args.gateway
    for text in args.pools:
        pool = pairs(text, {"start", "end"})
        if set(pool) != {"start", "end"}:
            raise UsageError("--allocation-pool takes start=IP,end=IP")
        found.allocation_pools.add(start=pool["start"], end=pool["end"])
    return show_subnet(call(ctx, "CreateSubnet", pb.CreateSubnetRequest(subnet=found)))


SUBNET_COLUMNS = resources.Columns(
    [("ID", "id"), ("Name", "name"), ("Network", "network_id"), ("Subnet", "cidr")],
    long=[
        ("Project", "project_id"),
        ("DHCP", "enable_dhcp"),
        ("Name Servers", lambda s: ", ".join(s.dns_nameservers)),
        ("Allocation Pools", lambda s: ", ".join(f"{p.start}-{p.end}" for p in s.allocation_pools)),
        ("Gateway", "gateway_ip"),
    ],
)


@command("subnet list", help="list subnets", output="list", columns=SUBNET_COLUMNS.headings)
@arg("--network", help="only this network's (name or ID)")
@arg("--name", default="", help="only subnets of this name")
@arg("--ip-version", type=int, choices=[4, 6], default=0, help="only IPv4 or IPv6 ones")
@arg("--subnet-range", default="", metavar="CIDR", help="only this range")
@arg("--all-projects", action="store_true", help="every project's (admins)")
@arg("--long", action="store_true", help="list more columns")
def subnet_list(ctx, args):
    request = pb.ListSubnetsRequest(
        name=args.name,
        ip_version=args.ip_version,
        cidr=args.subnet_range,
        all_projects=args.all_projects,
    )
    if args.network:
        request.network_id = find_network(ctx, args.network).id
    return resources.listing(
        paged(ctx, "ListSubnets", request, "subnets"), SUBNET_COLUMNS.chosen(args)
    )


@command("subnet show", help="show a subnet's details", output="show", columns=SUBNET_FIELDS)
@arg("subnet", help="subnet name or ID")
def subnet_show(ctx, args):
    return show_subnet(find_subnet(ctx, args.subnet))


@command("subnet set", help="change a subnet")
@arg("subnet", help="subnet name or ID")
@arg("--name", help="new name")
@arg("--description", help="new description")
@arg("--gateway", help="new gateway IP, or none")
@arg("--dns-nameserver", dest="dns", action="append", help="name servers (replace the list)")
@arg(
    "--host-route",
    dest="routes",
    action="append",
    metavar="destination=CIDR,gateway=IP",
    help="routes (replace the list)",
)
@dhcp_flags
def subnet_set(ctx, args):
    gateway = None if args.gateway is None else ("" if args.gateway == "none" else args.gateway)
    update(
        ctx,
        "UpdateSubnet",
        pb.UpdateSubnetRequest,
        "subnet",
        find_subnet(ctx, args.subnet),
        {
            "name": args.name,
            "description": args.description,
            "gateway_ip": gateway,
            "dns_nameservers": args.dns,
            "host_routes": None if args.routes is None else _routes(args.routes),
            "enable_dhcp": args.dhcp,
        },
    )


@command("subnet delete", help="delete subnets")
@arg("subnets", nargs="+", metavar="SUBNET", help="subnet name or ID")
def subnet_delete(ctx, args):
    delete_all(ctx, "subnet", args.subnets, find_subnet, "DeleteSubnet", pb.DeleteSubnetRequest)


# -- ports -------------------------------------------------------------------------------


def fixed_ips_text(found) -> str:
    return ", ".join(
        f"ip_address='{f.ip_address}', subnet_id='{f.subnet_id}'" for f in found.fixed_ips
    )


def show_port(found):
    return resources.show(
        found,
        extra={
            "fixed_ips": fixed_ips_text(found),
            "status": resources.enum_name(PORT_STATUS, found.status, upper=True),
            "allowed_address_pairs": ", ".join(
                f"ip_address='{p.ip_address}', mac_address='{p.mac_address}'"
                for p in found.allowed_address_pairs
            ),
        },
        rename={"binding_host": "binding_host_id", "security_group_ids": "security_group_ids"},
    )


PORT_FIELDS = resources.fields_of(show_port, pb.Port)


def _fixed_ips(ctx, values) -> list[pb.FixedIp]:
    found = []
    for text in values:
        entry = pairs(text, {"subnet", "ip-address"})
        fixed = pb.FixedIp(ip_address=entry.get("ip-address", ""))
        if "subnet" in entry:
            fixed.subnet_id = find_subnet(ctx, entry["subnet"]).id
        found.append(fixed)
    return found


def _address_pairs(values) -> list[pb.AddressPair]:
    found = []
    for text in values:
        entry = pairs(text, {"ip-address", "mac-address"})
        if "ip-address" not in entry:
            raise UsageError("--allowed-address takes ip-address=IP[,mac-address=MAC]")
        found.append(
            pb.AddressPair(ip_address=entry["ip-address"], mac_address=entry.get("mac-address", ""))
        )
    return found


def port_security_flags(func):
    func = arg(
        "--disable-port-security",
        dest="port_security",
        action="store_false",
        default=None,
        help="no anti-spoofing and no security groups",
    )(func)
    return arg(
        "--enable-port-security",
        dest="port_security",
        action="store_true",
        default=None,
        help="anti-spoofing and security groups (default)",
    )(func)


@command("port create", help="create a port", output="show", columns=PORT_FIELDS)
@arg("name", help="new port name")
@arg("--network", required=True, help="network name or ID")
@arg(
    "--fixed-ip",
    dest="fixed_ips",
    action="append",
    default=[],
    metavar="subnet=SUBNET,ip-address=IP",
    help="address wanted (repeat for more)",
)
@arg("--mac-address", default="", help="MAC address (default: generated)")
@arg("--device", default="", help="device ID (a server's)")
@arg("--device-owner", default="", help="device owner, e.g. compute:nova")
@arg(
    "--security-group",
    dest="groups",
    action="append",
    default=[],
    help="security group name or ID (repeat for more; default: the project's default)",
)
@arg(
    "--allowed-address",
    dest="address_pairs",
    action="append",
    default=[],
    metavar="ip-address=IP[,mac-address=MAC]",
    help="another address the port may send from",
)
@arg("--description", default="", help="description")
@arg("--project", help="owner project name or ID (admins)")
@port_security_flags
@enable_flags("port")
def port_create(ctx, args):
    found = pb.Port(
        name=args.name,
        network_id=find_network(ctx, args.network).id,
        mac_address=args.mac_address,
        device_id=args.device,
        device_owner=args.device_owner,
        security_group_ids=[find_group(ctx, g).id for g in args.groups],
        allowed_address_pairs=_address_pairs(args.address_pairs),
        description=args.description,
        port_security_enabled=args.port_security is not False,
        admin_state_up=args.enabled is not False,
    )
    found.fixed_ips.extend(_fixed_ips(ctx, args.fixed_ips))
    if args.project:
        found.project_id = project_id(ctx, args.project)
    return show_port(call(ctx, "CreatePort", pb.CreatePortRequest(port=found)))


PORT_COLUMNS = resources.Columns(
    [
        ("ID", "id"),
        ("Name", "name"),
        ("MAC Address", "mac_address"),
        ("Fixed IP Addresses", fixed_ips_text),
        ("Status", lambda p: resources.enum_name(PORT_STATUS, p.status, upper=True)),
    ],
    long=[
        ("Security Groups", lambda p: ", ".join(p.security_group_ids)),
        ("Device Owner", "device_owner"),
        ("Device ID", "device_id"),
        ("Host", "binding_host"),
    ],
)


@command("port list", help="list ports", output="list", columns=PORT_COLUMNS.headings)
@arg("--network", help="only this network's (name or ID)")
@arg("--server", help="only this server's (name or ID)")
@arg("--device-owner", default="", help="only ports of this device owner")
@arg("--mac-address", default="", help="only the port with this MAC")
@arg("--fixed-ip", default="", metavar="ip-address=IP", help="only ports with this address")
@arg("--host", default="", help="only ports bound to this host (admins)")
@arg("--all-projects", action="store_true", help="every project's (admins)")
@arg("--long", action="store_true", help="list more columns")
def port_list(ctx, args):
    request = pb.ListPortsRequest(
        device_owner=args.device_owner,
        mac_address=args.mac_address,
        binding_host=args.host,
        all_projects=args.all_projects,
    )
    if args.fixed_ip:
        request.fixed_ip = pairs(args.fixed_ip, {"ip-address", "subnet"}).get("ip-address", "")
    if args.network:
        request.network_id = find_network(ctx, args.network).id
    if args.server:
        from cli.commands import compute

        request.device_id = compute.find_server(ctx, args.server).id
    return resources.listing(paged(ctx, "ListPorts", request, "ports"), PORT_COLUMNS.chosen(args))


@command("port show", help="show a port's details", output="show", columns=PORT_FIELDS)
@arg("port", help="port name or ID")
def port_show(ctx, args):
    return show_port(find_port(ctx, args.port))


@command("port set", help="change a port")
@arg("port", help="port name or ID")
@arg("--name", help="new name")
@arg("--description", help="new description")
@arg(
    "--fixed-ip",
    dest="fixed_ips",
    action="append",
    metavar="subnet=SUBNET,ip-address=IP",
    help="the port's addresses (replace the list)",
)
@arg("--security-group", dest="groups", action="append", help="security groups (replace the list)")
@arg("--no-security-group", action="store_true", help="no security groups")
@arg(
    "--allowed-address",
    dest="address_pairs",
    action="append",
    metavar="ip-address=IP[,mac-address=MAC]",
    help="address pairs (replace the list)",
)
@port_security_flags
@enable_flags("port")
def port_set(ctx, args):
    groups = None
    if args.no_security_group:
        groups = []
    elif args.groups is not None:
        groups = [find_group(ctx, g).id for g in args.groups]
    update(
        ctx,
        "UpdatePort",
        pb.UpdatePortRequest,
        "port",
        find_port(ctx, args.port),
        {
            "name": args.name,
            "description": args.description,
            "fixed_ips": None if args.fixed_ips is None else _fixed_ips(ctx, args.fixed_ips),
            "security_group_ids": groups,
            "allowed_address_pairs": (
                None if args.address_pairs is None else _address_pairs(args.address_pairs)
            ),
            "port_security_enabled": args.port_security,
            "admin_state_up": args.enabled,
        },
    )


@command("port delete", help="delete ports")
@arg("ports", nargs="+", metavar="PORT", help="port name or ID")
def port_delete(ctx, args):
    delete_all(ctx, "port", args.ports, find_port, "DeletePort", pb.DeletePortRequest)


# -- security groups ---------------------------------------------------------------------


def show_group(found):
    return resources.show(
        found,
        extra={"rules": "\n".join(rule_summary(r) for r in found.rules)},
    )


GROUP_FIELDS = resources.fields_of(show_group, pb.SecurityGroup)


def rule_summary(rule) -> str:
    parts = [
        f"direction='{resources.enum_name(DIRECTION, rule.direction)}'",
        f"ethertype='{rule.ethertype}'",
    ]
    if rule.protocol:
        parts.append(f"protocol='{rule.protocol}'")
    if port_range(rule):
        parts.append(f"port_range='{port_range(rule)}'")
    if rule.remote_ip_prefix:
        parts.append(f"remote_ip_prefix='{rule.remote_ip_prefix}'")
    if rule.remote_group_id:
        parts.append(f"remote_group_id='{rule.remote_group_id}'")
    return ", ".join(parts)


def port_range(rule) -> str:
    low, high = rule.port_range_min, rule.port_range_max
    if rule.protocol in ("icmp", "icmpv6"):
        if low < 0:
            return ""
        return f"type={low}" + (f",code={high}" if high >= 0 else "")
    if not low and not high:
        return ""
    return f"{low}:{high}"


@command(
    "security group create", help="create a security group", output="show", columns=GROUP_FIELDS
)
@arg("name", help="new security group name")
@arg("--description", default="", help="description")
def security_group_create(ctx, args):
    made = pb.SecurityGroup(name=args.name, description=args.description)
    return show_group(
        call(ctx, "CreateSecurityGroup", pb.CreateSecurityGroupRequest(security_group=made))
    )


GROUP_COLUMNS = resources.Columns(
    [("ID", "id"), ("Name", "name"), ("Description", "description"), ("Project", "project_id")]
)


@command(
    "security group list",
    help="list security groups",
    output="list",
    columns=GROUP_COLUMNS.headings,
)
@arg("--all-projects", action="store_true", help="every project's (admins)")
def security_group_list(ctx, args):
    request = pb.ListSecurityGroupsRequest(all_projects=args.all_projects)
    return resources.listing(
        paged(ctx, "ListSecurityGroups", request, "security_groups"), GROUP_COLUMNS.chosen(args)
    )


@command(
    "security group show",
    help="show a security group and its rules",
    output="show",
    columns=GROUP_FIELDS,
)
@arg("group", help="security group name or ID")
def security_group_show(ctx, args):
    return show_group(find_group(ctx, args.group))


@command("security group set", help="change a security group")
@arg("group", help="security group name or ID")
@arg("--name", help="new name")
@arg("--description", help="new description")
def security_group_set(ctx, args):
    update(
        ctx,
        "UpdateSecurityGroup",
        pb.UpdateSecurityGroupRequest,
        "security_group",
        find_group(ctx, args.group),
        {"name": args.name, "description": args.description},
    )


@command("security group delete", help="delete security groups")
@arg("groups", nargs="+", metavar="GROUP", help="security group name or ID")
def security_group_delete(ctx, args):
    delete_all(
        ctx,
        "security group",
        args.groups,
        find_group,
        "DeleteSecurityGroup",
        pb.DeleteSecurityGroupRequest,
    )


def show_rule(found):
    return resources.show(
        found,
        extra={"direction": resources.enum_name(DIRECTION, found.direction)},
        rename={"port_range_min": "port_range_min", "port_range_max": "port_range_max"},
    )


RULE_FIELDS = resources.fields_of(show_rule, pb.SecurityGroupRule)


def _port_range(text: str) -> tuple[int, int]:
    low, _, high = text.partition(":")
    try:
        return int(low), int(high or low)
    except ValueError:
        raise UsageError("--dst-port takes PORT or PORT:PORT") from None


@command(
    "security group rule create",
    help="add a rule to a security group",
    output="show",
    columns=RULE_FIELDS,
)
@arg("group", help="security group name or ID")
@arg(
    "--ingress",
    dest="direction",
    action="store_const",
    const="ingress",
    default="ingress",
    help="for incoming traffic (default)",
)
@arg(
    "--egress", dest="direction", action="store_const", const="egress", help="for outgoing traffic"
)
@arg("--ethertype", choices=["IPv4", "IPv6"], default="", help="IPv4 (default) or IPv6")
@arg("--protocol", default="", help="tcp, udp, icmp, icmpv6, a number, or any (default)")
@arg("--dst-port", default="", metavar="PORT[:PORT]", help="destination port or range (tcp, udp)")
@arg("--icmp-type", type=int, help="ICMP type (icmp)")
@arg("--icmp-code", type=int, help="ICMP code (icmp, with --icmp-type)")
@arg("--remote-ip", default="", metavar="CIDR", help="from/to these addresses only")
@arg("--remote-group", default="", help="from/to ports of this security group only")
@arg("--description", default="", help="description")
def security_group_rule_create(ctx, args):
    protocol = "" if args.protocol in ("", "any") else args.protocol
    rule = pb.SecurityGroupRule(
        security_group_id=find_group(ctx, args.group).id,
        direction=resources.enum_number(DIRECTION, args.direction),
        ethertype=args.ethertype or ("IPv6" if ":" in args.remote_ip else "IPv4"),
        protocol=protocol,
        remote_ip_prefix=args.remote_ip,
        description=args.description,
    )
    if args.remote_group:
        rule.remote_group_id = find_group(ctx, args.remote_group).id
    if args.dst_port:
        rule.port_range_min, rule.port_range_max = _port_range(args.dst_port)
    if args.icmp_type is not None:
        rule.port_range_min = args.icmp_type
        rule.port_range_max = -1 if args.icmp_code is None else args.icmp_code
    return show_rule(
        call(
            ctx,
            "CreateSecurityGroupRule",
            pb.CreateSecurityGroupRuleRequest(security_group_rule=rule),
        )
    )


RULE_COLUMNS = resources.Columns(
    [
        ("ID", "id"),
        ("IP Protocol", lambda r: r.protocol or None),
        ("Ethertype", "ethertype"),
        ("IP Range", lambda r: r.remote_ip_prefix or None),
        ("Port Range", lambda r: port_range(r) or None),
        ("Direction", lambda r: resources.enum_name(DIRECTION, r.direction)),
        ("Remote Security Group", lambda r: r.remote_group_id or None),
    ],
    long=[("Security Group", "security_group_id")],
)


@command(
    "security group rule list",
    help="list security group rules",
    output="list",
    columns=RULE_COLUMNS.headings,
)
@arg("group", nargs="?", help="only this security group's (name or ID)")
@arg("--ingress", dest="direction", action="store_const", const="ingress", help="only ingress")
@arg("--egress", dest="direction", action="store_const", const="egress", help="only egress")
@arg("--all-projects", action="store_true", help="every project's (admins)")
@arg("--long", action="store_true", help="list more columns")
def security_group_rule_list(ctx, args):
    request = pb.ListSecurityGroupRulesRequest(all_projects=args.all_projects)
    if args.group:
        request.security_group_id = find_group(ctx, args.group).id
    if args.direction:
        request.direction = resources.enum_number(DIRECTION, args.direction)
    return resources.listing(
        paged(ctx, "ListSecurityGroupRules", request, "security_group_rules"),
        RULE_COLUMNS.chosen(args),
    )


@command(
    "security group rule show",
    help="show a security group rule",
    output="show",
    columns=RULE_FIELDS,
)
@arg("rule", help="rule ID")
def security_group_rule_show(ctx, args):
    return show_rule(find_rule(ctx, args.rule))


@command("security group rule delete", help="delete security group rules")
@arg("rules", nargs="+", metavar="RULE", help="rule ID")
def security_group_rule_delete(ctx, args):
    delete_all(
        ctx,
        "security group rule",
        args.rules,
        find_rule,
        "DeleteSecurityGroupRule",
        pb.DeleteSecurityGroupRuleRequest,
    )
