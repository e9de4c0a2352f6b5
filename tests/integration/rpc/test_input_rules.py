"""Bad input is INVALID_ARGUMENT naming the field, checked before any query, and changes
nothing: out-of-range times and durations, oversized strings and filters, control characters
(NUL breaks PostgreSQL), malformed ids, and forged page tokens. Runs on SQLite and, in the
PostgreSQL pass of scripts/test, on PostgreSQL."""

import base64
import hashlib
import json
import uuid

import grpc
import pytest
from google.protobuf import duration_pb2, timestamp_pb2

from controller.ca.models import EnrollmentTokenRow
from controller.compute.api.models import Flavor, KeyPair
from controller.compute.records.models import ServerGroup
from controller.identity.models import CatalogService, Project, Role, User
from controller.image.models import Image
from stratus.ca.v1 import ca_service_pb2 as capb
from stratus.ca.v1 import ca_service_pb2_grpc as capb_grpc
from stratus.compute.v1 import compute_service_pb2 as cpb
from stratus.compute.v1 import compute_service_pb2_grpc as cpb_grpc
from stratus.identity.v1 import identity_service_pb2 as ipb
from stratus.image.v1 import image_service_pb2 as gpb
from stratus.image.v1 import image_service_pb2_grpc as gpb_grpc
from tests.support.cloud import unique
from tests.support.errors import raises

INVALID = grpc.StatusCode.INVALID_ARGUMENT
TABLES = (
    Project,
    User,
    Role,
    CatalogService,
    Image,
    Flavor,
    KeyPair,
    ServerGroup,
    EnrollmentTokenRow,
)


@pytest.fixture(scope="module")
def stubs(cloud):
    class Stubs:
        identity = cloud.identity
        image = gpb_grpc.ImageServiceStub(cloud.channel)
        compute = cpb_grpc.ComputeServiceStub(cloud.channel)
        ca = capb_grpc.CertificateAuthorityServiceStub(cloud.channel)

    return Stubs


@pytest.fixture(scope="module")
def member(cloud):
    return cloud.tenant("member")


@pytest.fixture
def unchanged(db):
    """Asserts that the test's calls left every resource table as it was."""

    def counts():
        return {t.__name__: t.select().count() for t in TABLES}

    before = db.call(counts)
    yield
    assert db.call(counts) == before


NUL = "a\0b"
# (who, service, method, request, field): each string reaches a query or a row without the
# input rules; on PostgreSQL a NUL in any of them was INTERNAL.
NUL_PROBES = [
    (
        "admin",
        "identity",
        "CreateProject",
        ipb.CreateProjectRequest(project=ipb.Project(name=NUL)),
        "project.name",
    ),
    (
        "admin",
        "identity",
        "CreateProject",
        ipb.CreateProjectRequest(project=ipb.Project(name="p", description=NUL)),
        "project.description",
    ),
    (
        "admin",
        "identity",
        "CreateUser",
        ipb.CreateUserRequest(user=ipb.User(name=NUL), password="pw-long-enough"),
        "user.name",
    ),
    (
        "admin",
        "identity",
        "CreateUser",
        ipb.CreateUserRequest(user=ipb.User(name="u", email=NUL), password="pw-long-enough"),
        "user.email",
    ),
    (
        "admin",
        "identity",
        "CreateRole",
        ipb.CreateRoleRequest(role=ipb.Role(name=NUL)),
        "role.name",
    ),
    (
        "admin",
        "identity",
        "CreateService",
        ipb.CreateServiceRequest(service=ipb.Service(type=NUL, name="s")),
        "service.type",
    ),
    ("admin", "identity", "GetUser", ipb.GetUserRequest(id=NUL), "id"),
    ("admin", "identity", "ListUsers", ipb.ListUsersRequest(name=NUL), "name"),
    ("admin", "identity", "ListProjects", ipb.ListProjectsRequest(name=NUL), "name"),
    ("admin", "identity", "ListServices", ipb.ListServicesRequest(type=NUL), "type"),
    (
        None,
        "identity",
        "IssueToken",
        ipb.IssueTokenRequest(user_name=NUL, password="x"),
        "user_name",
    ),
    (
        None,
        "identity",
        "IssueToken",
        ipb.IssueTokenRequest(user_name="admin", password=NUL),
        "password",
    ),
    (
        "member",
        "image",
        "CreateImage",
        gpb.CreateImageRequest(image=gpb.Image(name=NUL)),
        "image.name",
    ),
    (
        "member",
        "image",
        "CreateImage",
        gpb.CreateImageRequest(image=gpb.Image(name="i", tags=["ok", NUL])),
        "image.tags[1]",
    ),
    (
        "member",
        "image",
        "CreateImage",
        gpb.CreateImageRequest(image=gpb.Image(name="i", properties={"k": NUL})),
        "image.properties.k",
    ),
    ("member", "image", "ListImages", gpb.ListImagesRequest(name=NUL), "name"),
    ("member", "image", "ListImages", gpb.ListImagesRequest(owner=NUL), "owner"),
    ("member", "image", "GetImage", gpb.GetImageRequest(id=NUL), "id"),
    (
        "admin",
        "compute",
        "CreateFlavor",
        cpb.CreateFlavorRequest(flavor=cpb.Flavor(name=NUL, vcpus=1, ram_mb=64)),
        "flavor.name",
    ),
    (
        "admin",
        "compute",
        "CreateFlavor",
        cpb.CreateFlavorRequest(flavor=cpb.Flavor(name="f", vcpus=1, ram_mb=64), flavor_id=NUL),
        "flavor_id",
    ),
    (
        "member",
        "compute",
        "CreateKeyPair",
        cpb.CreateKeyPairRequest(key_pair=cpb.KeyPair(name=NUL)),
        "key_pair.name",
    ),
    ("member", "compute", "GetKeyPair", cpb.GetKeyPairRequest(name=NUL), "name"),
    (
        "member",
        "compute",
        "CreateServerGroup",
        cpb.CreateServerGroupRequest(server_group=cpb.ServerGroup(name=NUL)),
        "server_group.name",
    ),
    ("member", "compute", "ListServers", cpb.ListServersRequest(name=NUL), "name"),
    ("member", "compute", "GetServer", cpb.GetServerRequest(id=NUL), "id"),
    ("admin", "compute", "ListHypervisors", cpb.ListHypervisorsRequest(hostname=NUL), "hostname"),
    (
        "admin",
        "compute",
        "DisableComputeService",
        cpb.DisableComputeServiceRequest(id=str(uuid.uuid4()), reason=NUL),
        "reason",
    ),
    (
        "admin",
        "ca",
        "CreateEnrollmentToken",
        capb.CreateEnrollmentTokenRequest(host_name=NUL),
        "host_name",
    ),
    ("admin", "ca", "ListCertificates", capb.ListCertificatesRequest(host_name=NUL), "host_name"),
]


def _call(stubs, cloud, member, who, service, method, request):
    metadata = {"admin": cloud.admin, "member": member.metadata, None: ()}[who]
    return getattr(getattr(stubs, service), method)(request, metadata=metadata)


@pytest.mark.parametrize(
    "who,service,method,request_,field", NUL_PROBES, ids=[f"{p[2]}-{p[4]}" for p in NUL_PROBES]
)
def test_a_nul_character_is_invalid_argument_naming_the_field(
    stubs, cloud, member, unchanged, who, service, method, request_, field
):
    with raises(INVALID, field=field):
        _call(stubs, cloud, member, who, service, method, request_)


@pytest.mark.parametrize("text", ["line\nbreak", "tab\there", "esc\x1b[31m", "del\x7f", "c1\x85"])
def test_control_characters_are_refused_in_names(stubs, cloud, unchanged, text):
    with raises(INVALID, field="project.name"):
        stubs.identity.CreateProject(
            ipb.CreateProjectRequest(project=ipb.Project(name=text)), metadata=cloud.admin
        )


def test_multi_line_fields_take_line_breaks_but_not_nul(stubs, cloud):
    made = stubs.identity.CreateProject(
        ipb.CreateProjectRequest(
            project=ipb.Project(name=unique("p"), description="two\nlines\ttabbed")
        ),
        metadata=cloud.admin,
    )
    assert made.description == "two\nlines\ttabbed"
    with raises(INVALID, field="project.description"):
        stubs.identity.CreateProject(
            ipb.CreateProjectRequest(
                project=ipb.Project(name=unique("p"), description="two\nlines\0")
            ),
            metadata=cloud.admin,
        )


@pytest.mark.parametrize("size,field", [(50_001, "name"), (256, "name")])
def test_an_oversized_name_filter_is_invalid_argument(stubs, member, size, field):
    with raises(INVALID, field=field):
        stubs.compute.ListServers(cpb.ListServersRequest(name="x" * size), metadata=member.metadata)
    with raises(INVALID, field=field):
        stubs.image.ListImages(gpb.ListImagesRequest(name="%" * size), metadata=member.metadata)


def test_an_oversized_hostname_filter_is_invalid_argument(stubs, cloud):
    with raises(INVALID, field="hostname"):
        stubs.compute.ListHypervisors(
            cpb.ListHypervisorsRequest(hostname="h" * 70_000), metadata=cloud.admin
        )


def test_a_name_at_the_bound_is_accepted(stubs, member):
    assert not stubs.compute.ListServers(
        cpb.ListServersRequest(name="x" * 255), metadata=member.metadata
    ).servers


@pytest.mark.parametrize(
    "tags,properties,field",
    [(100, 0, "tags"), (150, 0, "tags"), (0, 129, "properties"), (0, 33, "properties")],
)
def test_too_many_image_filters_are_invalid_argument(stubs, member, tags, properties, field):
    request = gpb.ListImagesRequest(
        tags=[f"t{i}" for i in range(tags)], properties={f"k{i}": "v" for i in range(properties)}
    )
    with raises(INVALID, field=field):
        stubs.image.ListImages(request, metadata=member.metadata)


def test_the_most_image_filters_allowed_still_run(stubs, member):
    request = gpb.ListImagesRequest(
        tags=[f"t{i}" for i in range(32)], properties={f"k{i}": "v" for i in range(32)}
    )
    assert not stubs.image.ListImages(request, metadata=member.metadata).images


@pytest.mark.parametrize(
    "seconds,nanos",
    [(-62135596801, 0), (253402300800, 0), (0, -1), (0, 1_000_000_000), (-(2**62), 0)],
)
def test_a_time_outside_timestamps_range_is_invalid_argument(stubs, member, seconds, nanos):
    since = timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)
    with raises(INVALID, field="changes_since"):
        stubs.compute.ListServers(
            cpb.ListServersRequest(changes_since=since), metadata=member.metadata
        )


@pytest.mark.parametrize("seconds", [-(2**62), 2**62, -315576000001])
def test_a_duration_outside_its_range_is_invalid_argument(stubs, cloud, unchanged, seconds):
    with raises(INVALID, field="ttl"):
        stubs.ca.CreateEnrollmentToken(
            capb.CreateEnrollmentTokenRequest(
                host_name="node-1", ttl=duration_pb2.Duration(seconds=seconds)
            ),
            metadata=cloud.admin,
        )


def test_a_negative_ttl_in_range_is_refused_by_the_domain(stubs, cloud, unchanged):
    with raises(INVALID, field="ttl"):
        stubs.ca.CreateEnrollmentToken(
            capb.CreateEnrollmentTokenRequest(
                host_name="node-1", ttl=duration_pb2.Duration(seconds=-60)
            ),
            metadata=cloud.admin,
        )


def _json_token(data) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


# Tokens in the shape the paging layer used to hand out unsigned, and plain garbage.
FORGED = [
    _json_token({"a": ["zzz", "not-a-uuid"], "d": "0"}),
    _json_token({"a": [{"t": "not a time"}, 1], "d": "x"}),
    _json_token({"a": [10**400], "d": "x"}),
    _json_token({"a": ["\0", "\0"], "d": "x"}),
    _json_token({"a": [[1, 2]], "d": "x"}),
    _json_token([]),
    "gAAAAABnot-a-real-fernet-token",
    "!!!",
    "x" * 9000,
]


@pytest.mark.parametrize("token", FORGED, ids=range(len(FORGED)))
def test_a_forged_page_token_is_invalid_argument(stubs, cloud, member, token):
    with raises(INVALID, field="page_token"):
        stubs.identity.ListUsers(ipb.ListUsersRequest(page_token=token), metadata=cloud.admin)
    with raises(INVALID, field="page_token"):
        stubs.image.ListImages(gpb.ListImagesRequest(page_token=token), metadata=member.metadata)
    with raises(INVALID, field="page_token"):
        stubs.compute.ListServers(
            cpb.ListServersRequest(page_token=token), metadata=member.metadata
        )
    with raises(INVALID, field="page_token"):
        stubs.ca.ListCertificates(
            capb.ListCertificatesRequest(page_token=token), metadata=cloud.admin
        )


def _digest(filters: dict) -> str:
    """The filter digest of the unsigned tokens: anyone could compute it."""
    return hashlib.sha256(json.dumps(filters, sort_keys=True).encode()).hexdigest()[:16]


# Positions of the wrong type or with a NUL, under the right filter digest: with unsigned
# tokens they reached the query, and PostgreSQL failed on them (INTERNAL).
POSITIONS = [[1, 2], [{"t": "2020-01-01T00:00:00"}, "x"], [1.5, "x"], ["\0", "\0"], [True, 0]]
DIGESTED = [
    ("identity", "ListRoles", ipb.ListRolesRequest, {"name": ""}),
    ("compute", "ListKeyPairs", cpb.ListKeyPairsRequest, {"u": ""}),
    ("compute", "ListFlavors", cpb.ListFlavorsRequest, {"p": False, "r": 0, "d": 0}),
    ("compute", "ListHypervisors", cpb.ListHypervisorsRequest, {"h": ""}),
]


@pytest.mark.parametrize(
    "service,method,request_class,filters", DIGESTED, ids=[d[1] for d in DIGESTED]
)
def test_a_forged_page_token_with_the_right_digest_is_invalid_argument(
    stubs, cloud, service, method, request_class, filters
):
    for position in POSITIONS:
        token = _json_token({"a": position, "d": _digest(filters)})
        with raises(INVALID, field="page_token"):
            getattr(getattr(stubs, service), method)(
                request_class(page_token=token), metadata=cloud.admin
            )


def test_a_page_token_is_opaque_and_tamper_evident(stubs, cloud):
    for _ in range(3):
        stubs.identity.CreateProject(
            ipb.CreateProjectRequest(project=ipb.Project(name=unique("page"))), metadata=cloud.admin
        )
    first = stubs.identity.ListProjects(ipb.ListProjectsRequest(page_size=1), metadata=cloud.admin)
    token = first.next_page_token
    assert token and "page" not in base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode(
        "latin-1"
    )
    second = stubs.identity.ListProjects(
        ipb.ListProjectsRequest(page_size=1, page_token=token), metadata=cloud.admin
    )
    assert second.projects[0].id != first.projects[0].id
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[len(raw) // 2] ^= 1
    tampered = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    with raises(INVALID, field="page_token"):
        stubs.identity.ListProjects(
            ipb.ListProjectsRequest(page_size=1, page_token=tampered), metadata=cloud.admin
        )


@pytest.mark.parametrize(
    "method,request_,field",
    [
        ("GetServer", cpb.GetServerRequest(id="nope"), "id"),
        ("DeleteServer", cpb.DeleteServerRequest(id="nope"), "id"),
        ("StopServer", cpb.StopServerRequest(id="12345"), "id"),
        ("GetServerGroup", cpb.GetServerGroupRequest(id="nope"), "id"),
        ("ListServerActions", cpb.ListServerActionsRequest(server_id="nope"), "server_id"),
        ("GetConsoleOutput", cpb.GetConsoleOutputRequest(server_id="nope"), "server_id"),
        ("ListServers", cpb.ListServersRequest(image_id="nope"), "image_id"),
    ],
)
def test_a_malformed_id_is_invalid_argument_everywhere(stubs, member, method, request_, field):
    with raises(INVALID, field=field):
        getattr(stubs.compute, method)(request_, metadata=member.metadata)


@pytest.mark.parametrize(
    "method,request_",
    [
        ("GetServer", cpb.GetServerRequest(id=str(uuid.uuid4()))),
        ("GetServerGroup", cpb.GetServerGroupRequest(id=str(uuid.uuid4()))),
    ],
)
def test_a_well_formed_unknown_id_is_not_found(stubs, member, method, request_):
    with raises(grpc.StatusCode.NOT_FOUND):
        getattr(stubs.compute, method)(request_, metadata=member.metadata)


def test_a_malformed_admin_id_is_invalid_argument(stubs, cloud):
    for call in (
        lambda: stubs.compute.GetHypervisor(
            cpb.GetHypervisorRequest(id="nope"), metadata=cloud.admin
        ),
        lambda: stubs.compute.EnableComputeService(
            cpb.EnableComputeServiceRequest(id="nope"), metadata=cloud.admin
        ),
    ):
        with raises(INVALID, field="id"):
            call()
