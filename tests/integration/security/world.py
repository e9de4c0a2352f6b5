"""A project with one of everything, the six kinds of caller, and fresh resources on demand.

The policy matrix and the fuzzing suite aim their calls at this world: a member's project P
holds a server, a private image, a key pair, a server group, and a network with a subnet, a
port and a security group (with a rule); another project Q has a member of its own. The admin
is a user of its own (admin role on the admin project), so a call that revokes or changes it
never touches the session's admin token.
"""

from __future__ import annotations

import datetime
import itertools
import uuid
from dataclasses import dataclass

import grpc

from controller.auth.token_format import TokenFormatter
from controller.compute.records import states
from controller.identity.service import key_repository
from stratus.ca.v1 import ca_service_pb2 as capb
from stratus.ca.v1 import ca_service_pb2_grpc as capb_grpc
from stratus.compute.v1 import compute_service_pb2 as cpb
from stratus.compute.v1 import compute_service_pb2_grpc as cpb_grpc
from stratus.identity.v1 import identity_service_pb2 as ipb
from stratus.image.v1 import image_service_pb2 as gpb
from stratus.image.v1 import image_service_pb2_grpc as gpb_grpc
from stratus.network.v1 import network_service_pb2 as npb
from stratus.network.v1 import network_service_pb2_grpc as npb_grpc
from tests.support.cloud import Cloud, Tenant, unique
from tests.unit.ca.ca_fixtures import make_csr

# The callers of the matrix, in the order a row runs them: refused ones first, so an allowed
# call that changes its target runs after every caller has tried it.
CALLERS = ("anonymous", "expired", "other", "reader", "member", "admin")
TOKEN_CALLERS = ("other", "reader", "member", "admin")
RAW_IMAGE = b"\0" * 65536


@dataclass
class Caller:
    name: str
    metadata: tuple  # the call's metadata: its bearer token, if any


def bearer(token: str) -> tuple:
    return (("authorization", f"Bearer {token}"),)


def expired_token(config, user_id: str, project_id: str) -> str:
    """A token of the controller's own format and keys, issued two hours ago for one hour."""
    issued = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=2)
    keys = key_repository(config)
    keys.load()
    token, _ = TokenFormatter(keys, clock=lambda: issued).issue(
        user_id, project_id, ("password",), issued + datetime.timedelta(hours=1)
    )
    return token


class World:
    def __init__(self, cloud: Cloud, config, hosts=None):
        """`hosts(count, up=True) -> [ids]` writes compute host records (when the test can
        reach the database); without it servers stay unplaced (ERROR: no valid host)."""
        self.cloud = cloud
        self.hosts = hosts
        self.compute = cpb_grpc.ComputeServiceStub(cloud.channel)
        self.image = gpb_grpc.ImageServiceStub(cloud.channel)
        self.ca = capb_grpc.CertificateAuthorityServiceStub(cloud.channel)
        self.network = npb_grpc.NetworkServiceStub(cloud.channel)
        admin_project = (
            cloud.identity.ListProjects(ipb.ListProjectsRequest(name="admin"), metadata=cloud.admin)
            .projects[0]
            .id
        )
        self.tenants = {
            "admin": cloud.tenant("admin", project_id=admin_project),
            "member": cloud.tenant("member"),
            "other": cloud.tenant("member"),
        }
        self.project_id = self.tenants["member"].project_id
        self.tenants["reader"] = cloud.tenant("reader", project_id=self.project_id)
        self.expired = expired_token(config, self.tenants["member"].user_id, self.project_id)
        for name in ("member", "other"):
            self.unlimited(self.tenants[name].project_id)
        self.zone, self.host_ids = hosts(2) if hosts else ("", [])
        self.spare_host = hosts(1)[1][0] if hosts else ""  # enabled and disabled by the matrix
        self.down_host = hosts(1, up=False)[1][0] if hosts else ""
        # down and disabled: its servers may be evacuated
        self.dead_host = hosts(1, up=False, enabled=False)[1][0] if hosts else ""
        self.flavor = self.new_flavor()
        self.larger_flavor = self.new_flavor(ram_mb=128)  # what a resize asks for
        self.private_flavor = self.new_flavor(is_public=False)
        self.public_image = self.new_image(self.cloud.admin, visibility=gpb.IMAGE_VISIBILITY_PUBLIC)
        self.private_image = self.new_image(self.metadata("member"))
        self.shared_image = self.shared()
        self.key_name = self.new_key_pair()
        self.group_id = self.new_group()
        self.server_id = self.new_server(states.ACTIVE)
        # on a host that is down: its console answers UNAVAILABLE, not a wait for an agent
        self.console_server = self.new_server(states.ACTIVE, self.down_host) if hosts else ""
        self.certificate = self.new_certificate()
        self.rule_ports = itertools.count(1)  # each new rule of P's group on a port of its own
        self.network_id = self.new_network()
        self.subnet_id = self.new_subnet(self.network_id)
        self.port_id = self.new_port()
        self.security_group_id = self.new_security_group()
        self.rule_id = self.new_security_group_rule()

    # -- callers ---------------------------------------------------------------------------
    def caller(self, name: str) -> Caller:
        if name == "anonymous":
            return Caller(name, ())
        if name == "expired":
            return Caller(name, bearer(self.expired))
        return Caller(name, self.tenants[name].metadata)

    def metadata(self, name: str) -> tuple:
        return self.tenants[name].metadata

    @property
    def member(self) -> Tenant:
        return self.tenants["member"]

    def heal(self):
        """Issues a new token for any caller whose token a call revoked (ChangePassword)."""
        for tenant in self.tenants.values():
            try:
                self.cloud.identity.ValidateToken(
                    ipb.ValidateTokenRequest(token=tenant.token), metadata=self.cloud.admin
                )
            except grpc.RpcError:
                tenant.token = self.cloud.token(
                    tenant.user_name, tenant.password, tenant.project_name
                )

    def private_marks(self) -> list[str]:
        """What another project must never read: the ids of P's own things."""
        return [
            self.project_id,
            self.member.user_id,
            self.server_id,
            self.private_image,
            self.group_id,
            self.key_name,
            self.network_id,
            self.subnet_id,
            self.port_id,
            self.security_group_id,
            self.rule_id,
        ]

    def known_strings(self) -> list[str]:
        """Real ids and names, so generated requests reach past the validation of ids. The
        callers' own users, projects and tokens are left out: a generated DeleteProject must
        not end the world for the examples after it."""
        spare_user, spare_project = self.new_user(), self.new_project()
        return [
            spare_user,
            spare_project,
            self.server_id,
            self.private_image,
            self.public_image,
            self.shared_image,
            self.group_id,
            self.key_name,
            self.flavor,
            self.private_flavor,
            self.certificate,
            self.network_id,
            self.subnet_id,
            self.port_id,
            self.security_group_id,
            self.rule_id,
            *self.host_ids,
            self.zone,
            self.role_id("reader"),
            "admin",
            "member",
        ]

    # -- fresh resources -------------------------------------------------------------------
    def unlimited(self, project_id: str):
        names = (
            "instances",
            "cores",
            "ram_mb",
            "key_pairs",
            "server_groups",
            "server_group_members",
        )
        self.compute.UpdateQuotas(
            cpb.UpdateQuotasRequest(
                quotas=cpb.Quotas(
                    project_id=project_id, limits=cpb.QuotaValues(**dict.fromkeys(names, -1))
                ),
                update_mask={"paths": [f"limits.{n}" for n in names]},
            ),
            metadata=self.cloud.admin,
        )

    def new_flavor(self, is_public=True, ram_mb=64) -> str:
        flavor = self.compute.CreateFlavor(
            cpb.CreateFlavorRequest(
                flavor=cpb.Flavor(
                    name=unique("flavor"), vcpus=1, ram_mb=ram_mb, disk_gb=1, is_public=is_public
                )
            ),
            metadata=self.cloud.admin,
        )
        return flavor.id

    def new_image(self, metadata, upload=True, **fields) -> str:
        image = self.image.CreateImage(
            gpb.CreateImageRequest(
                image=gpb.Image(
                    name=unique("image"),
                    disk_format=gpb.DISK_FORMAT_RAW,
                    container_format=gpb.CONTAINER_FORMAT_BARE,
                    **fields,
                )
            ),
            metadata=metadata,
        )
        if upload:
            self.image.UploadImageData(
                iter([gpb.UploadImageDataRequest(image_id=image.id, data=RAW_IMAGE, last=True)]),
                metadata=metadata,
            )
        return image.id

    def shared(self) -> str:
        """A private image of P shared with the other project."""
        image_id = self.new_image(self.metadata("member"))
        other = self.tenants["other"].project_id
        self.image.AddMember(
            gpb.AddMemberRequest(image_id=image_id, member_id=other),
            metadata=self.metadata("member"),
        )
        return image_id

    def new_key_pair(self) -> str:
        name = unique("key")
        self.compute.CreateKeyPair(
            cpb.CreateKeyPairRequest(key_pair=cpb.KeyPair(name=name)),
            metadata=self.metadata("member"),
        )
        return name

    def new_group(self) -> str:
        return self.compute.CreateServerGroup(
            cpb.CreateServerGroupRequest(
                server_group=cpb.ServerGroup(
                    name=unique("group"), policy=cpb.SERVER_GROUP_POLICY_ANTI_AFFINITY
                )
            ),
            metadata=self.metadata("member"),
        ).id

    def new_server(
        self, vm_state: str | None = None, host: str | None = None, who: str = "member"
    ) -> str:
        """A server of P (or of `who`'s project); placed on a host and then set to
        `vm_state` when hosts exist."""
        server = self.compute.CreateServer(
            cpb.CreateServerRequest(
                server=cpb.Server(
                    name=unique("vm"),
                    flavor_id=self.flavor,
                    image_id=self.public_image,
                    availability_zone=self.zone,
                )
            ),
            metadata=self.metadata(who),
        )
        if self.hosts and vm_state:
            self.hosts.settle(server.id, vm_state, host)
        return server.id

    def locked_server(self) -> str:
        server_id = self.new_server(states.ACTIVE)
        self.compute.LockServer(
            cpb.LockServerRequest(id=server_id), metadata=self.metadata("member")
        )
        return server_id

    def resized_server(self) -> str:
        """A server of P waiting for its resize's confirm (VERIFY_RESIZE)."""
        server_id = self.new_server()
        if self.hosts:
            self.hosts.finish_resize(server_id)
        return server_id

    # -- network resources of P --------------------------------------------------------
    def new_network(self) -> str:
        return self.network.CreateNetwork(
            npb.CreateNetworkRequest(network=npb.Network(name=unique("net"))),
            metadata=self.metadata("member"),
        ).id

    def new_subnet(self, network_id: str = "") -> str:
        return self.network.CreateSubnet(
            npb.CreateSubnetRequest(subnet=self.subnet(network_id or self.new_network())),
            metadata=self.metadata("member"),
        ).id

    @staticmethod
    def subnet(network_id: str) -> npb.Subnet:
        return npb.Subnet(
            name=unique("subnet"), network_id=network_id, ip_version=4, cidr="10.20.0.0/24"
        )

    def new_port(self) -> str:
        return self.port("member", network_id=self.network_id).id

    def port(self, who: str, **fields) -> npb.Port:
        """A new port of `who`'s project, with these fields."""
        return self.network.CreatePort(
            npb.CreatePortRequest(port=npb.Port(name=unique("port"), **fields)),
            metadata=self.metadata(who),
        )

    def new_security_group(self) -> str:
        return self.network.CreateSecurityGroup(
            npb.CreateSecurityGroupRequest(security_group=npb.SecurityGroup(name=unique("group"))),
            metadata=self.metadata("member"),
        ).id

    def new_security_group_rule(self) -> str:
        return self.network.CreateSecurityGroupRule(
            npb.CreateSecurityGroupRuleRequest(security_group_rule=self.rule()),
            metadata=self.metadata("member"),
        ).id

    def rule(self) -> npb.SecurityGroupRule:
        """An ingress TCP rule of P's group, on a port no other rule of it names."""
        port = next(self.rule_ports)
        return npb.SecurityGroupRule(
            security_group_id=self.security_group_id,
            direction=npb.RULE_DIRECTION_INGRESS,
            protocol="tcp",
            port_range_min=port,
            port_range_max=port,
        )

    def new_user(self) -> str:
        return self.cloud.identity.CreateUser(
            ipb.CreateUserRequest(
                user=ipb.User(name=unique("user"), enabled=True), password="pw-" + uuid.uuid4().hex
            ),
            metadata=self.cloud.admin,
        ).id

    def new_project(self) -> str:
        return self.cloud.identity.CreateProject(
            ipb.CreateProjectRequest(project=ipb.Project(name=unique("project"), enabled=True)),
            metadata=self.cloud.admin,
        ).id

    def new_role(self) -> str:
        return self.cloud.identity.CreateRole(
            ipb.CreateRoleRequest(role=ipb.Role(name=unique("role"))), metadata=self.cloud.admin
        ).id

    def role_id(self, name: str) -> str:
        return (
            self.cloud.identity.ListRoles(
                ipb.ListRolesRequest(name=name), metadata=self.cloud.admin
            )
            .roles[0]
            .id
        )

    def new_assignment(self) -> dict:
        ids = dict(
            user_id=self.new_user(), project_id=self.project_id, role_id=self.role_id("reader")
        )
        self.cloud.identity.AssignRole(ipb.AssignRoleRequest(**ids), metadata=self.cloud.admin)
        return ids

    def new_service(self) -> str:
        return self.cloud.identity.CreateService(
            ipb.CreateServiceRequest(
                service=ipb.Service(type="matrix", name=unique("service"), enabled=True)
            ),
            metadata=self.cloud.admin,
        ).id

    def new_endpoint(self) -> str:
        return self.cloud.identity.CreateEndpoint(
            ipb.CreateEndpointRequest(
                endpoint=ipb.Endpoint(
                    service_id=self.new_service(),
                    interface=ipb.ENDPOINT_INTERFACE_PUBLIC,
                    region="matrix",
                    url="https://matrix.example",
                    enabled=True,
                )
            ),
            metadata=self.cloud.admin,
        ).id

    def new_member_token(self) -> str:
        t = self.member
        return self.cloud.token(t.user_name, t.password, t.project_name)

    def enrollment(self) -> tuple[str, str]:
        """(one-time token, CSR) for a new host name."""
        host = unique("node")
        token = self.ca.CreateEnrollmentToken(
            capb.CreateEnrollmentTokenRequest(host_name=host), metadata=self.cloud.admin
        ).token
        return token, make_csr(host).decode()

    def new_certificate(self) -> str:
        token, csr = self.enrollment()
        return self.ca.EnrollNode(
            capb.EnrollNodeRequest(token=token, csr_pem=csr)
        ).certificate.serial_number
