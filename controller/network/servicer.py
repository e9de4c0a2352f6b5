"""stratus.network.v1.NetworkService: validate, call the domain, convert. Nothing else."""

from __future__ import annotations

from google.protobuf import empty_pb2

from controller import validation
from controller.auth import context as auth_context
from controller.compute.api.caller import Caller
from controller.db.paging import page_request
from controller.logs import request_id_var
from controller.network import (
    access,
    convert,
    networks,
    ports,
    security_groups,
    subnets,
)
from controller.network.config import NetworkSection
from controller.network.models import Port, SecurityGroup
from controller.network.port import NetworkPort
from controller.network.quotas import NetworkQuotas, NetworkQuotaValues
from controller.rpc.convert import changes, optional
from controller.rpc.policy_spec import rpc
from stratus.network.v1 import network_service_pb2 as pb
from stratus.network.v1 import network_service_pb2_grpc as pb_grpc
from stratus_common import errors

EMPTY = empty_pb2.Empty()


def _caller() -> Caller:
    return Caller.of(auth_context.current.get(), request_id_var.get(""))


def _own_project(request, auth):
    return {"project_id": request.project_id or auth.project_id}


def _fixed_ips(items) -> list[ports.FixedIpRequest]:
    return [ports.FixedIpRequest(subnet_id=f.subnet_id, ip_address=f.ip_address) for f in items]


def _pairs(items) -> list[tuple[str, str]]:
    return [(p.ip_address, p.mac_address) for p in items]


class NetworkServicer(pb_grpc.NetworkServiceServicer):
    def __init__(self, db, settings: NetworkSection, quotas: NetworkQuotas, port: NetworkPort):
        self.db = db
        self.settings = settings
        self.quotas = quotas
        self.port = port

    async def _write(self, fn, *args, **kwargs):
        """A change nodes may have to wire: they are told once it has committed."""
        result = await self.db.run(fn, *args, **kwargs)
        self.port.changed()
        return result

    # -- networks ----------------------------------------------------------------------
    async def _network(self, row) -> pb.Network:
        ids = await self.db.run(networks.subnet_ids, [row.id])
        return convert.network(row, ids[row.id])

    @rpc("network:create_network")
    async def CreateNetwork(self, request, context):
        n = request.network
        spec = networks.NetworkSpec(
            name=n.name,
            description=n.description,
            project_id=n.project_id,
            network_type=convert.TYPE_NAMES.get(n.network_type, ""),
            physical_network=n.physical_network,
            segmentation_id=n.segmentation_id,
            mtu=n.mtu,
            shared=n.shared,
            external=n.external,
            admin_state_up=n.admin_state_up if n.HasField("admin_state_up") else True,
        )
        if n.mtu < 0:
            raise errors.InvalidArgument("network.mtu", "must not be negative")
        row = await self._write(
            networks.create, self.db, self.settings, self.quotas, _caller(), spec
        )
        return convert.network(row, [])

    @rpc("network:get_network")
    async def GetNetwork(self, request, context):
        validation.uuid("id", request.id)
        row = await self.db.run(access.network, _caller(), request.id)
        return await self._network(row)

    @rpc("network:list_networks")
    async def ListNetworks(self, request, context):
        filters = {
            "n": request.name,
            "p": request.project_id,
            "s": request.shared,
            "e": request.external,
            "a": request.all_projects,
        }
        page = page_request(request.page_size, request.page_token, filters)
        caller = _caller()

        def load():
            rows, token = networks.list_(
                caller,
                page,
                name=request.name,
                project_id=request.project_id,
                shared=request.shared,
                external=request.external,
                all_projects=request.all_projects,
            )
            return rows, networks.subnet_ids([r.id for r in rows]), token

        rows, subnet_ids, token = await self.db.run(load)
        return pb.ListNetworksResponse(
            networks=[convert.network(r, subnet_ids[r.id]) for r in rows], next_page_token=token
        )

    @rpc("network:update_network")
    async def UpdateNetwork(self, request, context):
        n = request.network
        validation.uuid("network.id", n.id)
        allowed = networks.UPDATABLE | networks.ADMIN_UPDATABLE
        paths = validation.update_mask(request.update_mask.paths, allowed)
        values = changes(n, paths)
        row = await self._write(networks.update, self.db, self.settings, _caller(), n.id, values)
        return await self._network(row)

    @rpc("network:delete_network")
    async def DeleteNetwork(self, request, context):
        validation.uuid("id", request.id)
        await self._write(networks.delete, self.db, _caller(), request.id)
        return EMPTY

    # -- subnets -----------------------------------------------------------------------
    @rpc("network:create_subnet")
    async def CreateSubnet(self, request, context):
        s = request.subnet
        validation.uuid("subnet.network_id", s.network_id)
        if not s.cidr:
            raise errors.InvalidArgument("subnet.cidr", "is required")
        if s.no_gateway and s.gateway_ip:
            raise errors.InvalidArgument("subnet.gateway_ip", "contradicts no_gateway")
        spec = subnets.SubnetSpec(
            network_id=s.network_id,
            cidr=s.cidr,
            name=s.name,
            description=s.description,
            ip_version=s.ip_version,
            gateway_ip="" if s.no_gateway else (s.gateway_ip or None),
            allocation_pools=[(p.start, p.end) for p in s.allocation_pools],
            dns_nameservers=list(s.dns_nameservers),
            host_routes=[(r.destination, r.nexthop) for r in s.host_routes],
            enable_dhcp=s.enable_dhcp if s.HasField("enable_dhcp") else True,
        )
        row = await self._write(subnets.create, self.db, self.quotas, _caller(), spec)
        return convert.subnet(row)

    @rpc("network:get_subnet")
    async def GetSubnet(self, request, context):
        validation.uuid("id", request.id)
        return convert.subnet(await self.db.run(access.subnet, _caller(), request.id))

    @rpc("network:list_subnets")
    async def ListSubnets(self, request, context):
        if request.network_id:
            validation.uuid("network_id", request.network_id)
        filters = {
            "n": request.network_id,
            "m": request.name,
            "v": request.ip_version,
            "c": request.cidr,
            "a": request.all_projects,
        }
        page = page_request(request.page_size, request.page_token, filters)
        rows, token = await self.db.run(
            subnets.list_,
            _caller(),
            page,
            network_id=request.network_id,
            name=request.name,
            ip_version=request.ip_version,
            cidr=request.cidr,
            all_projects=request.all_projects,
        )
        return pb.ListSubnetsResponse(
            subnets=[convert.subnet(r) for r in rows], next_page_token=token
        )

    @rpc("network:update_subnet")
    async def UpdateSubnet(self, request, context):
        s = request.subnet
        validation.uuid("subnet.id", s.id)
        paths = validation.update_mask(request.update_mask.paths, subnets.UPDATABLE)
        values = {}
        for path in paths:
            if path == "host_routes":
                values[path] = [(r.destination, r.nexthop) for r in s.host_routes]
            elif path == "dns_nameservers":
                values[path] = list(s.dns_nameservers)
            elif path == "enable_dhcp":
                values[path] = s.enable_dhcp if s.HasField("enable_dhcp") else True
            else:
                values[path] = getattr(s, path)
        row = await self._write(subnets.update, self.db, _caller(), s.id, values)
        return convert.subnet(row)

    @rpc("network:delete_subnet")
    async def DeleteSubnet(self, request, context):
        validation.uuid("id", request.id)
        await self._write(subnets.delete, self.db, _caller(), request.id)
        return EMPTY

    # -- ports -------------------------------------------------------------------------
    def _show_host(self) -> bool:
        return auth_context.current.get().is_admin

    def _ports(self, rows: list[Port]) -> list[pb.Port]:
        ids = [r.id for r in rows]
        ips, groups = ports.fixed_ips(ids), ports.group_ids(ids)
        show = self._show_host()
        return [convert.port(r, ips[r.id], groups[r.id], show) for r in rows]

    async def _port(self, row: Port) -> pb.Port:
        (message,) = await self.db.run(self._ports, [row])
        return message

    @rpc("network:create_port")
    async def CreatePort(self, request, context):
        p = request.port
        validation.uuid("port.network_id", p.network_id)
        for n, group_id in enumerate(p.security_group_ids):
            validation.uuid(f"port.security_group_ids[{n}]", group_id)
        spec = ports.PortSpec(
            network_id=p.network_id,
            name=p.name,
            description=p.description,
            project_id=p.project_id,
            mac_address=p.mac_address,
            fixed_ips=_fixed_ips(p.fixed_ips) if p.fixed_ips else None,
            device_id=p.device_id,
            device_owner=p.device_owner,
            security_group_ids=list(p.security_group_ids),
            port_security_enabled=optional(p, "port_security_enabled") is not False,
            allowed_address_pairs=_pairs(p.allowed_address_pairs),
            admin_state_up=optional(p, "admin_state_up") is not False,
        )
        row = await self._write(ports.create, self.db, self.settings, self.quotas, _caller(), spec)
        return await self._port(row)

    @rpc("network:get_port")
    async def GetPort(self, request, context):
        validation.uuid("id", request.id)
        return await self._port(await self.db.run(access.port, _caller(), request.id))

    @rpc("network:list_ports")
    async def ListPorts(self, request, context):
        status = convert.STATUS_NAMES.get(request.status, "") if request.status else ""
        filters = {
            "n": request.network_id,
            "d": request.device_id,
            "o": request.device_owner,
            "m": request.name,
            "s": status,
            "a": request.mac_address,
            "f": request.fixed_ip,
            "h": request.binding_host,
            "p": request.all_projects,
        }
        page = page_request(request.page_size, request.page_token, filters)
        caller = _caller()

        def load():
            rows, token = ports.list_(
                caller,
                page,
                network_id=request.network_id,
                device_id=request.device_id,
                device_owner=request.device_owner,
                name=request.name,
                status=status,
                mac_address=request.mac_address,
                fixed_ip=request.fixed_ip,
                binding_host=request.binding_host,
                all_projects=request.all_projects,
            )
            return self._ports(rows), token

        messages, token = await self.db.run(load)
        return pb.ListPortsResponse(ports=messages, next_page_token=token)

    @rpc("network:update_port")
    async def UpdatePort(self, request, context):
        p = request.port
        validation.uuid("port.id", p.id)
        paths = validation.update_mask(request.update_mask.paths, ports.UPDATABLE)
        values: dict = {}
        for path in paths:
            if path == "fixed_ips":
                values[path] = _fixed_ips(p.fixed_ips)
            elif path == "allowed_address_pairs":
                values[path] = _pairs(p.allowed_address_pairs)
            elif path == "security_group_ids":
                values[path] = list(p.security_group_ids)
            elif path in ("port_security_enabled", "admin_state_up"):
                values[path] = optional(p, path) is not False
            else:
                values[path] = getattr(p, path)
        row = await self._write(ports.update, self.db, self.quotas, _caller(), p.id, values)
        return await self._port(row)

    @rpc("network:delete_port")
    async def DeletePort(self, request, context):
        validation.uuid("id", request.id)
        await self._write(ports.delete, self.db, _caller(), request.id)
        return EMPTY

    # -- security groups ---------------------------------------------------------------
    async def _group(self, row: SecurityGroup) -> pb.SecurityGroup:
        rules = await self.db.run(security_groups.rules_of, [row.id])
        return convert.security_group(row, rules[row.id])

    @rpc("network:create_security_group")
    async def CreateSecurityGroup(self, request, context):
        g = request.security_group
        row = await self._write(
            security_groups.create, self.db, self.quotas, _caller(), g.name, g.description
        )
        return await self._group(row)

    @rpc("network:get_security_group")
    async def GetSecurityGroup(self, request, context):
        validation.uuid("id", request.id)
        caller = _caller()
        await self.db.run(security_groups.ensure_default, self.db, self.quotas, caller)
        return await self._group(await self.db.run(access.security_group, caller, request.id))

    @rpc("network:list_security_groups")
    async def ListSecurityGroups(self, request, context):
        page = page_request(
            request.page_size, request.page_token, {"n": request.name, "a": request.all_projects}
        )
        caller = _caller()

        def load():
            security_groups.ensure_default(self.db, self.quotas, caller)
            rows, token = security_groups.list_(
                caller, page, name=request.name, all_projects=request.all_projects
            )
            return rows, security_groups.rules_of([r.id for r in rows]), token

        rows, rules, token = await self.db.run(load)
        return pb.ListSecurityGroupsResponse(
            security_groups=[convert.security_group(r, rules[r.id]) for r in rows],
            next_page_token=token,
        )

    @rpc("network:update_security_group")
    async def UpdateSecurityGroup(self, request, context):
        g = request.security_group
        validation.uuid("security_group.id", g.id)
        paths = validation.update_mask(request.update_mask.paths, {"name", "description"})
        row = await self.db.run(security_groups.update, self.db, _caller(), g.id, changes(g, paths))
        return await self._group(row)

    @rpc("network:delete_security_group")
    async def DeleteSecurityGroup(self, request, context):
        validation.uuid("id", request.id)
        await self._write(security_groups.delete, self.db, _caller(), request.id)
        return EMPTY

    @rpc("network:create_security_group_rule")
    async def CreateSecurityGroupRule(self, request, context):
        r = request.security_group_rule
        validation.uuid("security_group_rule.security_group_id", r.security_group_id)
        if r.remote_group_id:
            validation.uuid("security_group_rule.remote_group_id", r.remote_group_id)
        spec = security_groups.RuleSpec(
            security_group_id=r.security_group_id,
            direction=convert.DIRECTION_NAMES.get(r.direction, ""),
            ethertype=r.ethertype or "IPv4",
            protocol=r.protocol,
            port_range_min=r.port_range_min,
            port_range_max=r.port_range_max,
            remote_ip_prefix=r.remote_ip_prefix,
            remote_group_id=r.remote_group_id,
            description=r.description,
        )
        row = await self._write(security_groups.create_rule, self.db, self.quotas, _caller(), spec)
        return convert.rule(row)

    @rpc("network:get_security_group_rule")
    async def GetSecurityGroupRule(self, request, context):
        validation.uuid("id", request.id)
        return convert.rule(await self.db.run(access.security_group_rule, _caller(), request.id))

    @rpc("network:list_security_group_rules")
    async def ListSecurityGroupRules(self, request, context):
        if request.security_group_id:
            validation.uuid("security_group_id", request.security_group_id)
        direction = convert.DIRECTION_NAMES.get(request.direction, "")
        filters = {"g": request.security_group_id, "d": direction, "a": request.all_projects}
        page = page_request(request.page_size, request.page_token, filters)
        rows, token = await self.db.run(
            security_groups.list_rules,
            _caller(),
            page,
            security_group_id=request.security_group_id,
            direction=direction,
            all_projects=request.all_projects,
        )
        return pb.ListSecurityGroupRulesResponse(
            security_group_rules=[convert.rule(r) for r in rows], next_page_token=token
        )

    @rpc("network:delete_security_group_rule")
    async def DeleteSecurityGroupRule(self, request, context):
        validation.uuid("id", request.id)
        await self._write(security_groups.delete_rule, self.db, _caller(), request.id)
        return EMPTY

    # -- quotas ------------------------------------------------------------------------
    async def _quotas(self, project_id: str) -> pb.NetworkQuotas:
        def load():
            return self.quotas.limits(project_id), self.quotas.usage(project_id)

        limits, usage = await self.db.run(load)
        return pb.NetworkQuotas(
            project_id=project_id,
            limits=pb.NetworkQuotaValues(**limits.as_dict()),
            usage=pb.NetworkQuotaValues(**usage.as_dict()),
        )

    @rpc("network:get_quotas", target=_own_project)
    async def GetNetworkQuotas(self, request, context):
        project_id = request.project_id or auth_context.current.get().project_id
        validation.uuid("project_id", project_id)
        return await self._quotas(project_id)

    @rpc("network:update_quotas")
    async def UpdateNetworkQuotas(self, request, context):
        project_id = validation.uuid("quotas.project_id", request.quotas.project_id)
        allowed = {f"limits.{n}" for n in NetworkQuotaValues.names()}
        paths = validation.update_mask(request.update_mask.paths, allowed)
        names = [p.split(".", 1)[1] for p in paths]
        values = {name: getattr(request.quotas.limits, name) for name in names}
        await self.db.run(self.quotas.update, project_id, values)
        return await self._quotas(project_id)
