"""A minimal but valid request for every public RPC, aimed at the world's project P.

A request that changes or consumes its target (deletes, state changes, revocations) asks the
world for a fresh one each time, so each caller of the matrix meets the same situation. A
client-streaming method's request is the list of its messages.
"""

from __future__ import annotations

from google.protobuf import field_mask_pb2

from controller.compute.records import states
from stratus.ca.v1 import ca_service_pb2 as capb
from stratus.compute.v1 import compute_service_pb2 as cpb
from stratus.identity.v1 import identity_service_pb2 as ipb
from stratus.image.v1 import image_service_pb2 as gpb
from stratus.network.v1 import network_service_pb2 as npb
from tests.integration.security.world import RAW_IMAGE, World
from tests.support.cloud import unique


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


def _identity(w: World) -> dict:
    t = w.member
    member_role = w.role_id("member")
    return {
        "IssueToken": lambda: ipb.IssueTokenRequest(
            user_name=t.user_name, password=t.password, project_name=t.project_name
        ),
        "ValidateToken": lambda: ipb.ValidateTokenRequest(token=t.token),
        "RevokeToken": lambda: ipb.RevokeTokenRequest(token=w.new_member_token()),
        "GetCatalog": ipb.GetCatalogRequest,
        "CreateUser": lambda: ipb.CreateUserRequest(
            user=ipb.User(name=unique("user"), enabled=True), password="long-enough-pw"
        ),
        "GetUser": lambda: ipb.GetUserRequest(id=t.user_id),
        "ListUsers": ipb.ListUsersRequest,
        "UpdateUser": lambda: ipb.UpdateUserRequest(
            user=ipb.User(id=w.new_user(), description="x"), update_mask=mask("description")
        ),
        "DeleteUser": lambda: ipb.DeleteUserRequest(id=w.new_user()),
        # the same password again: the caller's tokens end, World.heal issues new ones
        "ChangePassword": lambda: ipb.ChangePasswordRequest(
            user_id=t.user_id, original_password=t.password, new_password=t.password
        ),
        "CreateProject": lambda: ipb.CreateProjectRequest(project=ipb.Project(name=unique("p"))),
        "GetProject": lambda: ipb.GetProjectRequest(id=w.project_id),
        "ListProjects": lambda: ipb.ListProjectsRequest(user_id=t.user_id),
        "UpdateProject": lambda: ipb.UpdateProjectRequest(
            project=ipb.Project(id=w.new_project(), description="x"),
            update_mask=mask("description"),
        ),
        "DeleteProject": lambda: ipb.DeleteProjectRequest(id=w.new_project()),
        "CreateRole": lambda: ipb.CreateRoleRequest(role=ipb.Role(name=unique("role"))),
        "GetRole": lambda: ipb.GetRoleRequest(id=member_role),
        "ListRoles": ipb.ListRolesRequest,
        "DeleteRole": lambda: ipb.DeleteRoleRequest(id=w.new_role()),
        "AssignRole": lambda: ipb.AssignRoleRequest(
            user_id=w.new_user(), project_id=w.project_id, role_id=member_role
        ),
        "UnassignRole": lambda: ipb.UnassignRoleRequest(**w.new_assignment()),
        "ListRoleAssignments": lambda: ipb.ListRoleAssignmentsRequest(user_id=t.user_id),
        "CreateService": lambda: ipb.CreateServiceRequest(
            service=ipb.Service(type="matrix", name=unique("service"))
        ),
        "GetService": lambda: ipb.GetServiceRequest(id=w.new_service()),
        "ListServices": ipb.ListServicesRequest,
        "UpdateService": lambda: ipb.UpdateServiceRequest(
            service=ipb.Service(id=w.new_service(), description="x"),
            update_mask=mask("description"),
        ),
        "DeleteService": lambda: ipb.DeleteServiceRequest(id=w.new_service()),
        "CreateEndpoint": lambda: ipb.CreateEndpointRequest(
            endpoint=ipb.Endpoint(
                service_id=w.new_service(),
                interface=ipb.ENDPOINT_INTERFACE_ADMIN,
                region="matrix",
                url="https://matrix.example",
            )
        ),
        "GetEndpoint": lambda: ipb.GetEndpointRequest(id=w.new_endpoint()),
        "ListEndpoints": ipb.ListEndpointsRequest,
        "UpdateEndpoint": lambda: ipb.UpdateEndpointRequest(
            endpoint=ipb.Endpoint(id=w.new_endpoint(), region="elsewhere"),
            update_mask=mask("region"),
        ),
        "DeleteEndpoint": lambda: ipb.DeleteEndpointRequest(id=w.new_endpoint()),
    }


def _image(w: World) -> dict:
    member = w.metadata("member")
    other = w.tenants["other"].project_id
    return {
        "CreateImage": lambda: gpb.CreateImageRequest(
            image=gpb.Image(
                name=unique("image"),
                disk_format=gpb.DISK_FORMAT_RAW,
                container_format=gpb.CONTAINER_FORMAT_BARE,
            )
        ),
        "GetImage": lambda: gpb.GetImageRequest(id=w.private_image),
        "ListImages": gpb.ListImagesRequest,
        "UpdateImage": lambda: gpb.UpdateImageRequest(
            image=gpb.Image(id=w.private_image, name=unique("renamed")), update_mask=mask("name")
        ),
        "DeleteImage": lambda: gpb.DeleteImageRequest(id=w.new_image(member)),
        "DeactivateImage": lambda: gpb.DeactivateImageRequest(id=w.new_image(member)),
        "ReactivateImage": lambda: gpb.ReactivateImageRequest(id=w.private_image),
        "UploadImageData": lambda: [
            gpb.UploadImageDataRequest(
                image_id=w.new_image(member, upload=False), data=RAW_IMAGE, last=True
            )
        ],
        "DownloadImageData": lambda: gpb.DownloadImageDataRequest(image_id=w.private_image),
        "AddMember": lambda: gpb.AddMemberRequest(image_id=w.new_image(member), member_id=other),
        "GetMember": lambda: gpb.GetMemberRequest(image_id=w.shared_image, member_id=other),
        "ListMembers": lambda: gpb.ListMembersRequest(image_id=w.shared_image),
        "UpdateMember": lambda: gpb.UpdateMemberRequest(
            image_id=w.shared_image, member_id=other, status=gpb.MEMBER_STATUS_ACCEPTED
        ),
        "RemoveMember": lambda: gpb.RemoveMemberRequest(image_id=w.shared(), member_id=other),
    }


def _ca(w: World) -> dict:
    def enroll():
        token, csr = w.enrollment()
        return capb.EnrollNodeRequest(token=token, csr_pem=csr)

    return {
        "GetCACertificate": capb.GetCACertificateRequest,
        "CreateEnrollmentToken": lambda: capb.CreateEnrollmentTokenRequest(
            host_name=unique("node")
        ),
        "EnrollNode": enroll,
        "RevokeCertificate": lambda: capb.RevokeCertificateRequest(
            serial_number=w.new_certificate(), reason="matrix"
        ),
        "GetCertificate": lambda: capb.GetCertificateRequest(serial_number=w.certificate),
        "ListCertificates": capb.ListCertificatesRequest,
        "GetCRL": capb.GetCRLRequest,
    }


def _server_action(w: World, request_class, vm_state: str):
    return lambda: request_class(id=w.new_server(vm_state))


def _compute(w: World) -> dict:
    member_id = w.member.user_id
    return {
        "CreateFlavor": lambda: cpb.CreateFlavorRequest(
            flavor=cpb.Flavor(name=unique("flavor"), vcpus=1, ram_mb=64, disk_gb=1, is_public=True)
        ),
        "GetFlavor": lambda: cpb.GetFlavorRequest(id=w.flavor),
        "ListFlavors": cpb.ListFlavorsRequest,
        "UpdateFlavor": lambda: cpb.UpdateFlavorRequest(
            flavor=cpb.Flavor(id=w.new_flavor(), description="x"), update_mask=mask("description")
        ),
        "DeleteFlavor": lambda: cpb.DeleteFlavorRequest(id=w.new_flavor()),
        "AddFlavorAccess": lambda: cpb.AddFlavorAccessRequest(
            flavor_id=w.new_flavor(is_public=False), project_ids=[w.project_id]
        ),
        "RemoveFlavorAccess": lambda: cpb.RemoveFlavorAccessRequest(
            flavor_id=w.private_flavor, project_ids=[w.project_id]
        ),
        "ListFlavorAccess": lambda: cpb.ListFlavorAccessRequest(flavor_id=w.private_flavor),
        "CreateServer": lambda: cpb.CreateServerRequest(
            server=cpb.Server(
                name=unique("vm"),
                flavor_id=w.flavor,
                image_id=w.public_image,
                availability_zone=w.zone,
            )
        ),
        "GetServer": lambda: cpb.GetServerRequest(id=w.server_id),
        "ListServers": cpb.ListServersRequest,
        "UpdateServer": lambda: cpb.UpdateServerRequest(
            server=cpb.Server(id=w.server_id, name=unique("vm")), update_mask=mask("name")
        ),
        "DeleteServer": _server_action(w, cpb.DeleteServerRequest, states.ACTIVE),
        "StopServer": _server_action(w, cpb.StopServerRequest, states.ACTIVE),
        "StartServer": _server_action(w, cpb.StartServerRequest, states.STOPPED),
        "RebootServer": _server_action(w, cpb.RebootServerRequest, states.ACTIVE),
        "PauseServer": _server_action(w, cpb.PauseServerRequest, states.ACTIVE),
        "UnpauseServer": _server_action(w, cpb.UnpauseServerRequest, states.PAUSED),
        "SuspendServer": _server_action(w, cpb.SuspendServerRequest, states.ACTIVE),
        "ResumeServer": _server_action(w, cpb.ResumeServerRequest, states.SUSPENDED),
        "WatchServers": lambda: cpb.WatchServersRequest(server_id=w.server_id),
        "ListServerActions": lambda: cpb.ListServerActionsRequest(server_id=w.server_id),
        "GetConsoleOutput": lambda: cpb.GetConsoleOutputRequest(server_id=w.console_server),
        "CreateConsole": lambda: cpb.CreateConsoleRequest(
            server_id=w.console_server, type=cpb.CONSOLE_TYPE_NOVNC
        ),
        "CreateKeyPair": lambda: cpb.CreateKeyPairRequest(key_pair=cpb.KeyPair(name=unique("key"))),
        "GetKeyPair": lambda: cpb.GetKeyPairRequest(name=w.key_name, user_id=member_id),
        "ListKeyPairs": cpb.ListKeyPairsRequest,
        "DeleteKeyPair": lambda: cpb.DeleteKeyPairRequest(name=w.new_key_pair(), user_id=member_id),
        "CreateServerGroup": lambda: cpb.CreateServerGroupRequest(
            server_group=cpb.ServerGroup(
                name=unique("group"), policy=cpb.SERVER_GROUP_POLICY_AFFINITY
            )
        ),
        "GetServerGroup": lambda: cpb.GetServerGroupRequest(id=w.group_id),
        "ListServerGroups": cpb.ListServerGroupsRequest,
        "DeleteServerGroup": lambda: cpb.DeleteServerGroupRequest(id=w.new_group()),
        "GetQuotas": lambda: cpb.GetQuotasRequest(project_id=w.project_id),
        "UpdateQuotas": lambda: cpb.UpdateQuotasRequest(
            quotas=cpb.Quotas(project_id=w.new_project(), limits=cpb.QuotaValues(instances=5)),
            update_mask=mask("limits.instances"),
        ),
        "DeleteQuotas": lambda: cpb.DeleteQuotasRequest(project_id=w.new_project()),
        "ListAvailabilityZones": cpb.ListAvailabilityZonesRequest,
        "ListComputeServices": cpb.ListComputeServicesRequest,
        "EnableComputeService": lambda: cpb.EnableComputeServiceRequest(id=w.spare_host),
        "DisableComputeService": lambda: cpb.DisableComputeServiceRequest(
            id=w.spare_host, reason="matrix"
        ),
        "ListHypervisors": cpb.ListHypervisorsRequest,
        "GetHypervisor": lambda: cpb.GetHypervisorRequest(id=w.host_ids[0]),
        "GetHypervisorStatistics": cpb.GetHypervisorStatisticsRequest,
        # -- day-2 operations ------------------------------------------------------------
        "LockServer": _server_action(w, cpb.LockServerRequest, states.ACTIVE),
        "UnlockServer": lambda: cpb.UnlockServerRequest(id=w.locked_server()),
        "CreateServerImage": lambda: cpb.CreateServerImageRequest(
            server_id=w.new_server(states.ACTIVE), name=unique("snapshot")
        ),
        "ShelveServer": _server_action(w, cpb.ShelveServerRequest, states.ACTIVE),
        "UnshelveServer": _server_action(w, cpb.UnshelveServerRequest, states.SHELVED_OFFLOADED),
        "RebuildServer": _server_action(w, cpb.RebuildServerRequest, states.ACTIVE),
        "ResizeServer": lambda: cpb.ResizeServerRequest(
            id=w.new_server(states.ACTIVE), flavor_id=w.larger_flavor
        ),
        "ConfirmServerResize": lambda: cpb.ConfirmServerResizeRequest(id=w.resized_server()),
        "RevertServerResize": lambda: cpb.RevertServerResizeRequest(id=w.resized_server()),
        "MigrateServer": _server_action(w, cpb.MigrateServerRequest, states.ACTIVE),
        "EvacuateServer": lambda: cpb.EvacuateServerRequest(
            id=w.new_server(states.ACTIVE, w.dead_host)
        ),
    }


def _network(w: World) -> dict:
    return {
        "CreateNetwork": lambda: npb.CreateNetworkRequest(network=npb.Network(name=unique("net"))),
        "GetNetwork": lambda: npb.GetNetworkRequest(id=w.network_id),
        "ListNetworks": npb.ListNetworksRequest,
        "UpdateNetwork": lambda: npb.UpdateNetworkRequest(
            network=npb.Network(id=w.network_id, description="x"), update_mask=mask("description")
        ),
        "DeleteNetwork": lambda: npb.DeleteNetworkRequest(id=w.new_network()),
        "CreateSubnet": lambda: npb.CreateSubnetRequest(subnet=w.subnet(w.new_network())),
        "GetSubnet": lambda: npb.GetSubnetRequest(id=w.subnet_id),
        "ListSubnets": npb.ListSubnetsRequest,
        "UpdateSubnet": lambda: npb.UpdateSubnetRequest(
            subnet=npb.Subnet(id=w.subnet_id, description="x"), update_mask=mask("description")
        ),
        "DeleteSubnet": lambda: npb.DeleteSubnetRequest(id=w.new_subnet()),
        "CreatePort": lambda: npb.CreatePortRequest(
            port=npb.Port(name=unique("port"), network_id=w.network_id)
        ),
        "GetPort": lambda: npb.GetPortRequest(id=w.port_id),
        "ListPorts": npb.ListPortsRequest,
        "UpdatePort": lambda: npb.UpdatePortRequest(
            port=npb.Port(id=w.port_id, description="x"), update_mask=mask("description")
        ),
        "DeletePort": lambda: npb.DeletePortRequest(id=w.new_port()),
        "CreateSecurityGroup": lambda: npb.CreateSecurityGroupRequest(
            security_group=npb.SecurityGroup(name=unique("group"))
        ),
        "GetSecurityGroup": lambda: npb.GetSecurityGroupRequest(id=w.security_group_id),
        "ListSecurityGroups": npb.ListSecurityGroupsRequest,
        "UpdateSecurityGroup": lambda: npb.UpdateSecurityGroupRequest(
            security_group=npb.SecurityGroup(id=w.security_group_id, description="x"),
            update_mask=mask("description"),
        ),
        "DeleteSecurityGroup": lambda: npb.DeleteSecurityGroupRequest(id=w.new_security_group()),
        "CreateSecurityGroupRule": lambda: npb.CreateSecurityGroupRuleRequest(
            security_group_rule=w.rule()
        ),
        "GetSecurityGroupRule": lambda: npb.GetSecurityGroupRuleRequest(id=w.rule_id),
        "ListSecurityGroupRules": npb.ListSecurityGroupRulesRequest,
        "DeleteSecurityGroupRule": lambda: npb.DeleteSecurityGroupRuleRequest(
            id=w.new_security_group_rule()
        ),
        "GetNetworkQuotas": lambda: npb.GetNetworkQuotasRequest(project_id=w.project_id),
        "UpdateNetworkQuotas": lambda: npb.UpdateNetworkQuotasRequest(
            quotas=npb.NetworkQuotas(
                project_id=w.new_project(), limits=npb.NetworkQuotaValues(networks=5)
            ),
            update_mask=mask("limits.networks"),
        ),
    }


AREAS = {
    "IdentityService": _identity,
    "ImageService": _image,
    "CertificateAuthorityService": _ca,
    "ComputeService": _compute,
    "NetworkService": _network,
}


def builders(world: World) -> dict:
    """'Service/Method' -> a function making a fresh minimal request."""
    return {
        f"{service}/{method}": build
        for service, area in AREAS.items()
        for method, build in area(world).items()
    }
