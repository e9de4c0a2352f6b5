"""Every public RPC x {admin, member, reader, another project's member, no token, expired token}.

MATRIX below is the policy as a reviewer reads it: per method, its rule and who is allowed.
The rest follows from generic rules: a call without a token, or with an expired one, is
UNAUTHENTICATED unless the method is open; a refused caller is PERMISSION_DENIED, except that
another project's compute, image and network resources are NOT_FOUND (README, "Security
model": their existence does not leak). The methods come from the controller's registered
services, so a new RPC without a row here fails, and so does one whose rule or outcome drifts
from its row.

Requests are minimal but valid and aim at a member's project P (world.py), so the code seen
is the policy's. An allowed call of another project must not carry P's ids in its answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
import pytest

from controller.rpc.policy_spec import specs_for
from stratus.identity.v1 import identity_service_pb2 as ipb
from tests.integration.security import rpc_calls
from tests.integration.security.minimal_requests import builders
from tests.integration.security.world import CALLERS, TOKEN_CALLERS
from tests.support.errors import raises

OK = grpc.StatusCode.OK
DENIED = grpc.StatusCode.PERMISSION_DENIED
NOT_FOUND = grpc.StatusCode.NOT_FOUND
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE
FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION

ADMIN = frozenset({"admin"})
OWNER = frozenset({"admin", "member"})  # the admin, and the member about itself
SELF = frozenset({"member"})  # only the user the request is about
MEMBERS = frozenset({"admin", "member"})  # the admin and P's members
READERS = frozenset({"admin", "member", "reader"})
CREATORS = frozenset({"admin", "member", "other"})  # any member, in its own project
ANYONE = frozenset(TOKEN_CALLERS)  # any valid token


@dataclass(frozen=True)
class Row:
    rule: str | None  # the rule the method declares; None: open, no token needed
    allowed: frozenset = ANYONE
    other: grpc.StatusCode = DENIED  # what another project's member gets when not allowed
    ok: grpc.StatusCode = OK  # what an allowed call answers

    def expected(self) -> dict[str, grpc.StatusCode]:
        if self.rule is None:
            return dict.fromkeys(CALLERS, self.ok)
        out = {"anonymous": UNAUTHENTICATED, "expired": UNAUTHENTICATED}
        for caller in TOKEN_CALLERS:
            refused = self.other if caller == "other" else DENIED
            out[caller] = self.ok if caller in self.allowed else refused
        return out


def admin(rule: str) -> Row:
    return Row(rule, ADMIN)


def scoped(rule: str, allowed: frozenset, **kw) -> Row:
    """A project's resource: another project's member meets NOT_FOUND."""
    return Row(rule, allowed, other=NOT_FOUND, **kw)


MATRIX: dict[str, Row] = {
    # -- identity: admin manages; a user reads itself and its project ----------------------
    "IdentityService/IssueToken": Row(None),
    "IdentityService/ValidateToken": Row("identity:validate_token", OWNER),
    "IdentityService/RevokeToken": Row("identity:revoke_token", OWNER),
    "IdentityService/GetCatalog": Row("identity:get_catalog"),
    "IdentityService/CreateUser": admin("identity:create_user"),
    "IdentityService/GetUser": Row("identity:get_user", OWNER),
    "IdentityService/ListUsers": admin("identity:list_users"),
    "IdentityService/UpdateUser": admin("identity:update_user"),
    "IdentityService/DeleteUser": admin("identity:delete_user"),
    "IdentityService/ChangePassword": Row("identity:change_password", SELF),
    "IdentityService/CreateProject": admin("identity:create_project"),
    "IdentityService/GetProject": Row("identity:get_project", READERS),
    "IdentityService/ListProjects": Row("identity:list_projects", OWNER),
    "IdentityService/UpdateProject": admin("identity:update_project"),
    "IdentityService/DeleteProject": admin("identity:delete_project"),
    "IdentityService/CreateRole": admin("identity:create_role"),
    "IdentityService/GetRole": Row("identity:get_role"),
    "IdentityService/ListRoles": Row("identity:list_roles"),
    "IdentityService/DeleteRole": admin("identity:delete_role"),
    "IdentityService/AssignRole": admin("identity:assign_role"),
    "IdentityService/UnassignRole": admin("identity:unassign_role"),
    "IdentityService/ListRoleAssignments": Row("identity:list_role_assignments", OWNER),
    "IdentityService/CreateService": admin("identity:create_service"),
    "IdentityService/GetService": Row("identity:get_service"),
    "IdentityService/ListServices": Row("identity:list_services"),
    "IdentityService/UpdateService": admin("identity:update_service"),
    "IdentityService/DeleteService": admin("identity:delete_service"),
    "IdentityService/CreateEndpoint": admin("identity:create_endpoint"),
    "IdentityService/GetEndpoint": Row("identity:get_endpoint"),
    "IdentityService/ListEndpoints": Row("identity:list_endpoints"),
    "IdentityService/UpdateEndpoint": admin("identity:update_endpoint"),
    "IdentityService/DeleteEndpoint": admin("identity:delete_endpoint"),
    # -- images: P's private image; `other` is the member project of the shared one --------
    "ImageService/CreateImage": Row("image:create_image", CREATORS),
    "ImageService/GetImage": scoped("image:get_image", READERS),
    "ImageService/ListImages": Row("image:list_images"),
    "ImageService/UpdateImage": scoped("image:update_image", MEMBERS),
    "ImageService/DeleteImage": scoped("image:delete_image", MEMBERS),
    "ImageService/DeactivateImage": admin("image:deactivate_image"),
    "ImageService/ReactivateImage": admin("image:reactivate_image"),
    "ImageService/UploadImageData": scoped("image:upload_image", MEMBERS),
    "ImageService/DownloadImageData": scoped("image:download_image", READERS),
    "ImageService/AddMember": scoped("image:add_member", MEMBERS),
    "ImageService/GetMember": Row("image:get_member"),
    "ImageService/ListMembers": Row("image:list_members"),
    "ImageService/UpdateMember": Row("image:update_member", frozenset({"admin", "other"})),
    "ImageService/RemoveMember": Row("image:remove_member", MEMBERS),
    # -- certificate authority: public data and enrollment are open; the rest is admin's ---
    "CertificateAuthorityService/GetCACertificate": Row(None),
    "CertificateAuthorityService/CreateEnrollmentToken": admin("ca:create_enrollment_token"),
    "CertificateAuthorityService/EnrollNode": Row(None),
    "CertificateAuthorityService/RevokeCertificate": admin("ca:revoke_certificate"),
    "CertificateAuthorityService/GetCertificate": admin("ca:get_certificate"),
    "CertificateAuthorityService/ListCertificates": admin("ca:list_certificates"),
    "CertificateAuthorityService/GetCRL": Row(None),
    # -- compute: flavors are admin's; servers and groups P's; key pairs the user's --------
    "ComputeService/CreateFlavor": admin("compute:create_flavor"),
    "ComputeService/GetFlavor": Row("compute:get_flavor"),
    "ComputeService/ListFlavors": Row("compute:list_flavors"),
    "ComputeService/UpdateFlavor": admin("compute:update_flavor"),
    "ComputeService/DeleteFlavor": admin("compute:delete_flavor"),
    "ComputeService/AddFlavorAccess": admin("compute:add_flavor_access"),
    "ComputeService/RemoveFlavorAccess": admin("compute:remove_flavor_access"),
    "ComputeService/ListFlavorAccess": admin("compute:list_flavor_access"),
    "ComputeService/CreateServer": Row("compute:create_server", CREATORS),
    "ComputeService/GetServer": scoped("compute:get_server", READERS),
    "ComputeService/ListServers": Row("compute:list_servers"),
    "ComputeService/UpdateServer": scoped("compute:update_server", MEMBERS),
    "ComputeService/DeleteServer": scoped("compute:delete_server", MEMBERS),
    "ComputeService/StopServer": scoped("compute:stop_server", MEMBERS),
    "ComputeService/StartServer": scoped("compute:start_server", MEMBERS),
    "ComputeService/RebootServer": scoped("compute:reboot_server", MEMBERS),
    "ComputeService/PauseServer": scoped("compute:pause_server", MEMBERS),
    "ComputeService/UnpauseServer": scoped("compute:unpause_server", MEMBERS),
    "ComputeService/SuspendServer": scoped("compute:suspend_server", MEMBERS),
    "ComputeService/ResumeServer": scoped("compute:resume_server", MEMBERS),
    "ComputeService/WatchServers": scoped("compute:watch_servers", READERS),
    "ComputeService/ListServerActions": scoped("compute:list_server_actions", READERS),
    # the server's host is down in this world: an allowed caller reaches the host check
    "ComputeService/GetConsoleOutput": scoped(
        "compute:get_console_output", MEMBERS, ok=UNAVAILABLE
    ),
    # CreateConsole checks compute:create_console:<type> (MEMBERS by default) itself; this
    # world has no console proxy, so an allowed caller meets FAILED_PRECONDITION.
    "ComputeService/CreateConsole": scoped(
        "compute:create_console", MEMBERS, ok=FAILED_PRECONDITION
    ),
    "ComputeService/CreateKeyPair": Row("compute:create_key_pair"),
    # the request names the member's user id: only the admin may name another user's
    "ComputeService/GetKeyPair": Row("compute:get_key_pair", OWNER),
    "ComputeService/ListKeyPairs": Row("compute:list_key_pairs"),
    "ComputeService/DeleteKeyPair": Row("compute:delete_key_pair", OWNER),
    "ComputeService/CreateServerGroup": Row("compute:create_server_group", CREATORS),
    "ComputeService/GetServerGroup": scoped("compute:get_server_group", READERS),
    "ComputeService/ListServerGroups": Row("compute:list_server_groups"),
    "ComputeService/DeleteServerGroup": scoped("compute:delete_server_group", MEMBERS),
    "ComputeService/GetQuotas": Row("compute:get_quotas", READERS),
    "ComputeService/UpdateQuotas": admin("compute:update_quotas"),
    "ComputeService/DeleteQuotas": admin("compute:delete_quotas"),
    "ComputeService/ListAvailabilityZones": Row("compute:list_availability_zones"),
    "ComputeService/ListComputeServices": admin("compute:list_compute_services"),
    "ComputeService/EnableComputeService": admin("compute:enable_compute_service"),
    "ComputeService/DisableComputeService": admin("compute:disable_compute_service"),
    "ComputeService/ListHypervisors": admin("compute:list_hypervisors"),
    "ComputeService/GetHypervisor": admin("compute:get_hypervisor"),
    "ComputeService/GetHypervisorStatistics": admin("compute:get_hypervisor_statistics"),
    # -- compute day-2: P's members act on P's servers; moving servers between hosts is
    # the admin's (Nova's migrate and evacuate)
    "ComputeService/LockServer": scoped("compute:lock_server", MEMBERS),
    "ComputeService/UnlockServer": scoped("compute:unlock_server", MEMBERS),
    "ComputeService/CreateServerImage": scoped("compute:create_server_image", MEMBERS),
    "ComputeService/ShelveServer": scoped("compute:shelve_server", MEMBERS),
    "ComputeService/UnshelveServer": scoped("compute:unshelve_server", MEMBERS),
    "ComputeService/RebuildServer": scoped("compute:rebuild_server", MEMBERS),
    "ComputeService/ResizeServer": scoped("compute:resize_server", MEMBERS),
    "ComputeService/ConfirmServerResize": scoped("compute:confirm_server_resize", MEMBERS),
    "ComputeService/RevertServerResize": scoped("compute:revert_server_resize", MEMBERS),
    "ComputeService/MigrateServer": admin("compute:migrate_server"),
    "ComputeService/EvacuateServer": admin("compute:evacuate_server"),
    # -- network: P's network, subnet, port and security group; lists show a caller its own
    # project's (and shared networks); quotas are set by the admin
    "NetworkService/CreateNetwork": Row("network:create_network", CREATORS),
    "NetworkService/GetNetwork": scoped("network:get_network", READERS),
    "NetworkService/ListNetworks": Row("network:list_networks"),
    "NetworkService/UpdateNetwork": scoped("network:update_network", MEMBERS),
    "NetworkService/DeleteNetwork": scoped("network:delete_network", MEMBERS),
    # a subnet or a port is made in P's network: another project does not see it
    "NetworkService/CreateSubnet": scoped("network:create_subnet", MEMBERS),
    "NetworkService/GetSubnet": scoped("network:get_subnet", READERS),
    "NetworkService/ListSubnets": Row("network:list_subnets"),
    "NetworkService/UpdateSubnet": scoped("network:update_subnet", MEMBERS),
    "NetworkService/DeleteSubnet": scoped("network:delete_subnet", MEMBERS),
    "NetworkService/CreatePort": scoped("network:create_port", MEMBERS),
    "NetworkService/GetPort": scoped("network:get_port", READERS),
    "NetworkService/ListPorts": Row("network:list_ports"),
    "NetworkService/UpdatePort": scoped("network:update_port", MEMBERS),
    "NetworkService/DeletePort": scoped("network:delete_port", MEMBERS),
    "NetworkService/CreateSecurityGroup": Row("network:create_security_group", CREATORS),
    "NetworkService/GetSecurityGroup": scoped("network:get_security_group", READERS),
    "NetworkService/ListSecurityGroups": Row("network:list_security_groups"),
    "NetworkService/UpdateSecurityGroup": scoped("network:update_security_group", MEMBERS),
    "NetworkService/DeleteSecurityGroup": scoped("network:delete_security_group", MEMBERS),
    "NetworkService/CreateSecurityGroupRule": scoped("network:create_security_group_rule", MEMBERS),
    "NetworkService/GetSecurityGroupRule": scoped("network:get_security_group_rule", READERS),
    "NetworkService/ListSecurityGroupRules": Row("network:list_security_group_rules"),
    "NetworkService/DeleteSecurityGroupRule": scoped("network:delete_security_group_rule", MEMBERS),
    "NetworkService/GetNetworkQuotas": Row("network:get_quotas", READERS),
    "NetworkService/UpdateNetworkQuotas": admin("network:update_quotas"),
}


def registered(app) -> dict[str, object]:
    """'Service/Method' -> the spec of every method the public listener serves."""
    return {
        rpc_calls.key(name): spec
        for r in app.public_services
        for name, spec in specs_for(r.servicer, r.descriptor).items()
    }


def test_every_public_method_has_a_row_with_its_rule(controller, world):
    served = registered(controller.app)
    missing = sorted(set(served) - set(MATRIX))
    assert not missing, (
        f"add a row to MATRIX in {__name__} for each of {missing}: its rule "
        "and who may call it (and a request in minimal_requests.py)"
    )
    assert not sorted(set(MATRIX) - set(served)), "MATRIX has rows for methods no longer served"
    drifted = {
        m: (served[m].rule, MATRIX[m].rule) for m in served if served[m].rule != MATRIX[m].rule
    }
    assert not drifted, f"rule in the code vs. the row: {drifted}"
    assert set(rpc_calls.METHODS) == set(served), "rpc_calls.PUBLIC_SERVICES is out of step"
    assert set(builders(world)) == set(served), "minimal_requests.py lacks a request"


@pytest.mark.parametrize("method", sorted(MATRIX))
def test_policy_matrix(world, cloud, method):
    build = builders(world)[method]
    observed, leaks = {}, []
    for name in CALLERS:
        caller = world.caller(name)
        outcome = rpc_calls.invoke(cloud.channel, method, build(), caller.metadata, timeout=10)
        observed[name] = outcome.code
        if name == "other" and outcome.code == OK and MATRIX[method].rule is not None:
            answer = outcome.response.SerializeToString() if outcome.response else b""
            leaks += [mark for mark in world.private_marks() if mark.encode() in answer]
    world.heal()
    expected = MATRIX[method].expected()
    wrong = {
        c: f"{observed[c].name}, expected {expected[c].name}"
        for c in CALLERS
        if observed[c] != expected[c]
    }
    assert not wrong, f"{method}: {wrong}"
    assert not leaks, f"{method} showed another project {leaks}"


def test_the_expired_token_is_genuine_but_expired(world, cloud):
    """The matrix's expired token is refused for its age, not as a forgery."""
    with raises(UNAUTHENTICATED, "TOKEN_EXPIRED"):
        cloud.identity.GetCatalog(
            ipb.GetCatalogRequest(), metadata=world.caller("expired").metadata
        )
