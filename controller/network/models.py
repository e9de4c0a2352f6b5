"""peewee models of the network area's tables (schema: controller/db/migrations/
m0500_network.py)."""

import peewee

from controller.db.database import BaseModel
from controller.db.fields import JSONValueField


class Network(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=36)
    project_id = peewee.CharField(max_length=36)
    name = peewee.CharField()
    description = peewee.TextField(default="")
    network_type = peewee.CharField(max_length=16)  # flat | vlan | vxlan
    physical_network = peewee.CharField(max_length=64, default="")
    segmentation_id = peewee.IntegerField(default=0)
    mtu = peewee.IntegerField()
    shared = peewee.BooleanField(default=False)
    external = peewee.BooleanField(default=False)
    admin_state_up = peewee.BooleanField(default=True)
    created_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField()


class Subnet(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=36)
    network_id = peewee.CharField(max_length=36)
    project_id = peewee.CharField(max_length=36)
    name = peewee.CharField(default="")
    description = peewee.TextField(default="")
    ip_version = peewee.IntegerField()
    cidr = peewee.CharField(max_length=64)
    gateway_ip = peewee.CharField(max_length=64, null=True)
    allocation_pools = JSONValueField()  # [[start, end], ...]
    dns_nameservers = JSONValueField()  # [address, ...]
    host_routes = JSONValueField()  # [[destination, nexthop], ...]
    enable_dhcp = peewee.BooleanField(default=True)
    created_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField()


class Port(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=36)
    network_id = peewee.CharField(max_length=36)
    project_id = peewee.CharField(max_length=36)
    name = peewee.CharField(default="")
    description = peewee.TextField(default="")
    mac_address = peewee.CharField(max_length=17)
    device_id = peewee.CharField(max_length=64, default="")
    device_owner = peewee.CharField(max_length=64, default="")
    # The interface's place on its server (0 first); ports a server's create made go with it.
    device_index = peewee.IntegerField(default=0)
    delete_with_device = peewee.BooleanField(default=False)
    port_security_enabled = peewee.BooleanField(default=True)
    allowed_address_pairs = JSONValueField()  # [[ip_or_cidr, mac], ...]
    binding_host = peewee.CharField(default="")
    binding_node_id = peewee.CharField(max_length=36, null=True)
    status = peewee.CharField(max_length=16, default="DOWN")
    admin_state_up = peewee.BooleanField(default=True)
    created_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField()


class IpAllocation(BaseModel):
    subnet_id = peewee.CharField(max_length=36)
    ip_address = peewee.CharField(max_length=64)
    port_id = peewee.CharField(max_length=36)
    network_id = peewee.CharField(max_length=36)

    class Meta:
        primary_key = peewee.CompositeKey("subnet_id", "ip_address")


class SecurityGroup(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=36)
    project_id = peewee.CharField(max_length=36)
    name = peewee.CharField()
    description = peewee.TextField(default="")
    created_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField()


class DefaultSecurityGroup(BaseModel):
    project_id = peewee.CharField(primary_key=True, max_length=36)
    security_group_id = peewee.CharField(max_length=36)


class SecurityGroupRule(BaseModel):
    id = peewee.CharField(primary_key=True, max_length=36)
    security_group_id = peewee.CharField(max_length=36)
    project_id = peewee.CharField(max_length=36)
    direction = peewee.CharField(max_length=8)  # ingress | egress
    ethertype = peewee.CharField(max_length=4)  # IPv4 | IPv6
    protocol = peewee.CharField(max_length=8, default="")
    port_range_min = peewee.IntegerField(null=True)
    port_range_max = peewee.IntegerField(null=True)
    remote_ip_prefix = peewee.CharField(max_length=64, default="")
    remote_group_id = peewee.CharField(max_length=36, default="")
    description = peewee.TextField(default="")
    created_at = peewee.DateTimeField()


class PortSecurityGroup(BaseModel):
    port_id = peewee.CharField(max_length=36)
    security_group_id = peewee.CharField(max_length=36)

    class Meta:
        primary_key = peewee.CompositeKey("port_id", "security_group_id")


class NetworkQuota(BaseModel):
    project_id = peewee.CharField(max_length=36)
    resource = peewee.CharField(max_length=32)
    hard_limit = peewee.IntegerField()

    class Meta:
        primary_key = peewee.CompositeKey("project_id", "resource")


class NetworkNode(BaseModel):
    node_id = peewee.CharField(primary_key=True, max_length=36)
    tunnel_ip = peewee.CharField(max_length=64, default="")
    physical_networks = JSONValueField()
    updated_at = peewee.DateTimeField()
