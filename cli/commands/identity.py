"""Identity commands: token, project, user, role, role assignment, service, endpoint,
catalog, with the openstack client's verbs, flags and columns."""

import datetime
import getpass

from google.protobuf import field_mask_pb2

from cli import auth, resources
from cli.errors import CliError, UsageError
from cli.formatters import ShowResult
from cli.registry import arg, command, group
from stratus.identity.v1 import identity_service_pb2 as pb
from stratus.identity.v1 import identity_service_pb2_grpc as pb_grpc

group("token", "tokens")
group("project", "projects")
group("user", "users")
group("user password", "your own password")
group("role", "roles and role assignments")
group("role assignment", "who has which role on which project")
group("service", "services of the catalog")
group("endpoint", "endpoints of the catalog's services")
group("catalog", "the service catalog")

INTERFACE = pb.EndpointInterface.DESCRIPTOR


def identity(ctx) -> pb_grpc.IdentityServiceStub:
    return ctx.session.stub(pb_grpc.IdentityServiceStub)


def enable_flags(what: str):
    """openstack's --enable/--disable pair; None when neither is given."""

    def add(func):
        func = arg(
            "--disable",
            dest="enabled",
            action="store_false",
            default=None,
            help=f"disable the {what}",
        )(func)
        return arg(
            "--enable",
            dest="enabled",
            action="store_true",
            default=None,
            help=f"enable the {what} (default on create)",
        )(func)

    return add


def updated(ctx, method, resource, request_cls, field: str, changes: dict, **extra):
    """Sends an Update with the fields in `changes` (None = unchanged) and their mask."""
    changes = {k: v for k, v in changes.items() if v is not None}
    if not changes and not extra:
        raise UsageError("nothing to change: give at least one option")
    for name, value in changes.items():
        setattr(resource, name, value)
    mask = field_mask_pb2.FieldMask(paths=[*changes, *extra])
    return ctx.session.call(
        method, request_cls(**{field: resource}, update_mask=mask, **dict(extra.items()))
    )


# -- lookups -----------------------------------------------------------------------------


def find_project(ctx, name_or_id):
    s, stub = ctx.session, identity(ctx)
    return resources.find(
        "project",
        name_or_id,
        get=lambda i: s.call(stub.GetProject, pb.GetProjectRequest(id=i)),
        by_name=lambda n: s.paged(stub.ListProjects, pb.ListProjectsRequest(name=n), "projects"),
    )


def find_user(ctx, name_or_id):
    s, stub = ctx.session, identity(ctx)
    return resources.find(
        "user",
        name_or_id,
        get=lambda i: s.call(stub.GetUser, pb.GetUserRequest(id=i)),
        by_name=lambda n: s.paged(stub.ListUsers, pb.ListUsersRequest(name=n), "users"),
    )


def find_role(ctx, name_or_id):
    s, stub = ctx.session, identity(ctx)
    return resources.find(
        "role",
        name_or_id,
        get=lambda i: s.call(stub.GetRole, pb.GetRoleRequest(id=i)),
        by_name=lambda n: s.paged(stub.ListRoles, pb.ListRolesRequest(name=n), "roles"),
    )


def find_service(ctx, name_or_id):
    """A service by ID, by name, or by type (as the openstack client finds them)."""
    s, stub = ctx.session, identity(ctx)

    def by_name_or_type(value):
        named = list(s.paged(stub.ListServices, pb.ListServicesRequest(name=value), "services"))
        return named or list(
            s.paged(stub.ListServices, pb.ListServicesRequest(type=value), "services")
        )

    return resources.find(
        "service",
        name_or_id,
        get=lambda i: s.call(stub.GetService, pb.GetServiceRequest(id=i)),
        by_name=by_name_or_type,
    )


def find_endpoint(ctx, endpoint_id):
    return ctx.session.call(identity(ctx).GetEndpoint, pb.GetEndpointRequest(id=endpoint_id))


# -- tokens ------------------------------------------------------------------------------


@command(
    "token issue",
    help="issue a new token with your password",
    output="show",
    columns=("expires", "id", "project_id", "user_id"),
)
def token_issue(ctx, args):
    issued = ctx.session.new_token()
    expires = datetime.datetime.fromtimestamp(issued.expires_at, datetime.UTC)
    return ShowResult(
        {
            "expires": expires,
            "id": issued.token,
            "project_id": issued.project_id,
            "user_id": issued.user_id,
        }
    )


@command("token revoke", help="revoke a token")
@arg("token", help="the token to revoke")
def token_revoke(ctx, args):
    ctx.session.call(identity(ctx).RevokeToken, pb.RevokeTokenRequest(token=args.token))
    cache = ctx.session.cache
    cached = cache.load() if cache is not None else None
    if cached is not None and cached.token == args.token:
        cache.drop()


# -- projects ----------------------------------------------------------------------------


@command(
    "project create",
    help="create a project",
    output="show",
    columns=resources.fields_of(resources.show, pb.Project),
)
@arg("name", help="new project name")
@arg("--description", default="", help="project description")
@enable_flags("project")
def project_create(ctx, args):
    project = pb.Project(
        name=args.name, description=args.description, enabled=args.enabled is not False
    )
    return resources.show(
        ctx.session.call(identity(ctx).CreateProject, pb.CreateProjectRequest(project=project))
    )


PROJECT_COLUMNS = resources.Columns(
    [("ID", "id"), ("Name", "name")], long=[("Description", "description"), ("Enabled", "enabled")]
)


@command("project list", help="list projects", output="list", columns=PROJECT_COLUMNS.headings)
@arg("--user", help="only projects where this user (name or ID) has a role")
@arg("--long", action="store_true", help="list more columns")
def project_list(ctx, args):
    request = pb.ListProjectsRequest()
    if args.user:
        request.user_id = find_user(ctx, args.user).id
    return resources.listing(
        ctx.session.paged(identity(ctx).ListProjects, request, "projects"),
        PROJECT_COLUMNS.chosen(args),
    )


@command(
    "project show",
    help="show a project's details",
    output="show",
    columns=resources.fields_of(resources.show, pb.Project),
)
@arg("project", help="project name or ID")
def project_show(ctx, args):
    return resources.show(find_project(ctx, args.project))


@command("project set", help="change a project")
@arg("project", help="project name or ID")
@arg("--name", help="new name")
@arg("--description", help="new description")
@enable_flags("project")
def project_set(ctx, args):
    updated(
        ctx,
        identity(ctx).UpdateProject,
        find_project(ctx, args.project),
        pb.UpdateProjectRequest,
        "project",
        {"name": args.name, "description": args.description, "enabled": args.enabled},
    )


@command("project delete", help="delete projects")
@arg("projects", nargs="+", metavar="PROJECT", help="project name or ID")
def project_delete(ctx, args):
    resources.delete_each(
        ctx,
        "project",
        args.projects,
        lambda name: ctx.session.call(
            identity(ctx).DeleteProject, pb.DeleteProjectRequest(id=find_project(ctx, name).id)
        ),
    )


# -- users -------------------------------------------------------------------------------


def password_of(args) -> str | None:
    if getattr(args, "password_prompt", False):
        first = getpass.getpass("User Password: ")
        if first != getpass.getpass("Repeat User Password: "):
            raise CliError("the passwords do not match")
        return first
    return args.user_password


@command(
    "user create",
    help="create a user",
    output="show",
    columns=resources.fields_of(resources.show, pb.User),
)
@arg("name", help="new user name")
@arg("--password", dest="user_password", metavar="PASSWORD", help="the user's password")
@arg("--password-prompt", action="store_true", help="ask for the password")
@arg("--email", default="", help="email address")
@arg("--project", dest="default_project", metavar="PROJECT", help="default project (name or ID)")
@arg("--description", default="", help="user description")
@enable_flags("user")
def user_create(ctx, args):
    password = password_of(args)
    if not password:
        raise UsageError("give the user a password with --password or --password-prompt")
    user = pb.User(
        name=args.name,
        email=args.email,
        description=args.description,
        enabled=args.enabled is not False,
    )
    if args.default_project:
        user.default_project_id = find_project(ctx, args.default_project).id
    return resources.show(
        ctx.session.call(
            identity(ctx).CreateUser, pb.CreateUserRequest(user=user, password=password)
        )
    )


USER_COLUMNS = resources.Columns(
    [("ID", "id"), ("Name", "name")],
    long=[
        ("Project", "default_project_id"),
        ("Email", "email"),
        ("Description", "description"),
        ("Enabled", "enabled"),
    ],
)


@command("user list", help="list users", output="list", columns=USER_COLUMNS.headings)
@arg("--long", action="store_true", help="list more columns")
def user_list(ctx, args):
    return resources.listing(
        ctx.session.paged(identity(ctx).ListUsers, pb.ListUsersRequest(), "users"),
        USER_COLUMNS.chosen(args),
    )


@command(
    "user show",
    help="show a user's details",
    output="show",
    columns=resources.fields_of(resources.show, pb.User),
)
@arg("user", help="user name or ID")
def user_show(ctx, args):
    return resources.show(find_user(ctx, args.user))


@command("user set", help="change a user")
@arg("user", help="user name or ID")
@arg("--name", help="new name")
@arg("--password", dest="user_password", metavar="PASSWORD", help="new password")
@arg("--password-prompt", action="store_true", help="ask for the new password")
@arg("--email", help="new email address")
@arg("--project", dest="default_project", metavar="PROJECT", help="new default project")
@arg("--description", help="new description")
@enable_flags("user")
def user_set(ctx, args):
    changes = {
        "name": args.name,
        "email": args.email,
        "description": args.description,
        "enabled": args.enabled,
    }
    if args.default_project:
        changes["default_project_id"] = find_project(ctx, args.default_project).id
    password = password_of(args)
    extra = {"password": password} if password else {}
    updated(
        ctx,
        identity(ctx).UpdateUser,
        find_user(ctx, args.user),
        pb.UpdateUserRequest,
        "user",
        changes,
        **extra,
    )


@command("user delete", help="delete users")
@arg("users", nargs="+", metavar="USER", help="user name or ID")
def user_delete(ctx, args):
    resources.delete_each(
        ctx,
        "user",
        args.users,
        lambda name: ctx.session.call(
            identity(ctx).DeleteUser, pb.DeleteUserRequest(id=find_user(ctx, name).id)
        ),
    )


@command("user password set", help="change your own password")
@arg("--password", dest="new_password", metavar="NEW", help="the new password")
@arg("--original-password", metavar="OLD", help="the current password")
def user_password_set(ctx, args):
    original = args.original_password or getpass.getpass("Current Password: ")
    new = args.new_password
    if not new:
        new = getpass.getpass("New Password: ")
        if new != getpass.getpass("Repeat New Password: "):
            raise CliError("the passwords do not match")
    user_id = auth.caller(ctx.session).user_id
    ctx.session.call(
        identity(ctx).ChangePassword,
        pb.ChangePasswordRequest(user_id=user_id, original_password=original, new_password=new),
    )
    if ctx.session.cache is not None:
        ctx.session.cache.drop()  # the server revoked it with the old password


# -- roles -------------------------------------------------------------------------------


@command(
    "role create",
    help="create a role",
    output="show",
    columns=resources.fields_of(resources.show, pb.Role),
)
@arg("name", help="new role name")
@arg("--description", default="", help="role description")
def role_create(ctx, args):
    role = pb.Role(name=args.name, description=args.description)
    return resources.show(
        ctx.session.call(identity(ctx).CreateRole, pb.CreateRoleRequest(role=role))
    )


ROLE_COLUMNS = resources.Columns([("ID", "id"), ("Name", "name")])


@command("role list", help="list roles", output="list", columns=ROLE_COLUMNS.headings)
def role_list(ctx, args):
    return resources.listing(
        ctx.session.paged(identity(ctx).ListRoles, pb.ListRolesRequest(), "roles"),
        ROLE_COLUMNS.chosen(args),
    )


@command(
    "role show",
    help="show a role's details",
    output="show",
    columns=resources.fields_of(resources.show, pb.Role),
)
@arg("role", help="role name or ID")
def role_show(ctx, args):
    return resources.show(find_role(ctx, args.role))


@command("role delete", help="delete roles")
@arg("roles", nargs="+", metavar="ROLE", help="role name or ID")
def role_delete(ctx, args):
    resources.delete_each(
        ctx,
        "role",
        args.roles,
        lambda name: ctx.session.call(
            identity(ctx).DeleteRole, pb.DeleteRoleRequest(id=find_role(ctx, name).id)
        ),
    )


def assignment_ids(ctx, args):
    return {
        "user_id": find_user(ctx, args.user).id,
        "project_id": find_project(ctx, args.project).id,
        "role_id": find_role(ctx, args.role).id,
    }


@command("role add", help="give a user a role on a project")
@arg("role", help="role name or ID")
@arg("--user", required=True, help="user name or ID")
@arg("--project", required=True, help="project name or ID")
def role_add(ctx, args):
    ctx.session.call(identity(ctx).AssignRole, pb.AssignRoleRequest(**assignment_ids(ctx, args)))


@command("role remove", help="take a role on a project away from a user")
@arg("role", help="role name or ID")
@arg("--user", required=True, help="user name or ID")
@arg("--project", required=True, help="project name or ID")
def role_remove(ctx, args):
    ctx.session.call(
        identity(ctx).UnassignRole, pb.UnassignRoleRequest(**assignment_ids(ctx, args))
    )


def assignment_columns(args) -> resources.Columns:
    suffix = "name" if args.names else "id"
    return resources.Columns(
        [("Role", f"role_{suffix}"), ("User", f"user_{suffix}"), ("Project", f"project_{suffix}")]
    )


@command(
    "role assignment list",
    help="list role assignments",
    output="list",
    columns=lambda args: assignment_columns(args).headings(args),
)
@arg("--user", help="only this user's (name or ID)")
@arg("--project", help="only on this project (name or ID)")
@arg("--role", help="only this role (name or ID)")
@arg("--names", action="store_true", help="show names instead of IDs")
def role_assignment_list(ctx, args):
    request = pb.ListRoleAssignmentsRequest()
    if args.user:
        request.user_id = find_user(ctx, args.user).id
    if args.project:
        request.project_id = find_project(ctx, args.project).id
    if args.role:
        request.role_id = find_role(ctx, args.role).id
    return resources.listing(
        ctx.session.paged(identity(ctx).ListRoleAssignments, request, "role_assignments"),
        assignment_columns(args).chosen(args),
    )


# -- services and endpoints --------------------------------------------------------------


@command(
    "service create",
    help="create a service of the catalog",
    output="show",
    columns=resources.fields_of(resources.show, pb.Service),
)
@arg("type", help="service type (identity, image, compute, ...)")
@arg("--name", default="", help="service name")
@arg("--description", default="", help="service description")
@enable_flags("service")
def service_create(ctx, args):
    service = pb.Service(
        type=args.type,
        name=args.name,
        description=args.description,
        enabled=args.enabled is not False,
    )
    return resources.show(
        ctx.session.call(identity(ctx).CreateService, pb.CreateServiceRequest(service=service))
    )


SERVICE_COLUMNS = resources.Columns(
    [("ID", "id"), ("Name", "name"), ("Type", "type")],
    long=[("Description", "description"), ("Enabled", "enabled")],
)


@command("service list", help="list services", output="list", columns=SERVICE_COLUMNS.headings)
@arg("--long", action="store_true", help="list more columns")
def service_list(ctx, args):
    return resources.listing(
        ctx.session.paged(identity(ctx).ListServices, pb.ListServicesRequest(), "services"),
        SERVICE_COLUMNS.chosen(args),
    )


@command(
    "service show",
    help="show a service's details",
    output="show",
    columns=resources.fields_of(resources.show, pb.Service),
)
@arg("service", help="service name, type or ID")
def service_show(ctx, args):
    return resources.show(find_service(ctx, args.service))


@command("service set", help="change a service")
@arg("service", help="service name, type or ID")
@arg("--type", help="new type")
@arg("--name", help="new name")
@arg("--description", help="new description")
@enable_flags("service")
def service_set(ctx, args):
    updated(
        ctx,
        identity(ctx).UpdateService,
        find_service(ctx, args.service),
        pb.UpdateServiceRequest,
        "service",
        {
            "type": args.type,
            "name": args.name,
            "description": args.description,
            "enabled": args.enabled,
        },
    )


@command("service delete", help="delete services")
@arg("services", nargs="+", metavar="SERVICE", help="service name, type or ID")
def service_delete(ctx, args):
    resources.delete_each(
        ctx,
        "service",
        args.services,
        lambda name: ctx.session.call(
            identity(ctx).DeleteService, pb.DeleteServiceRequest(id=find_service(ctx, name).id)
        ),
    )


def endpoint_view(endpoint, service=None):
    service = service or pb.Service()
    return resources.show(
        endpoint, extra={"service_name": service.name, "service_type": service.type}
    )


ENDPOINT_FIELDS = resources.fields_of(endpoint_view, pb.Endpoint)


def show_endpoint(ctx, endpoint):
    return endpoint_view(
        endpoint,
        ctx.session.call(identity(ctx).GetService, pb.GetServiceRequest(id=endpoint.service_id)),
    )


def endpoint_row_service(ctx):
    """Columns of the endpoint's service, fetched once per service."""
    names = {}

    def service(endpoint):
        if endpoint.service_id not in names:
            names[endpoint.service_id] = ctx.session.call(
                identity(ctx).GetService, pb.GetServiceRequest(id=endpoint.service_id)
            )
        return names[endpoint.service_id]

    return service


def endpoint_columns(service) -> resources.Columns:
    """The columns of `endpoint list`; `service(endpoint)` is the endpoint's service."""
    return resources.Columns(
        [
            ("ID", "id"),
            ("Region", "region"),
            ("Service Name", lambda e: service(e).name),
            ("Service Type", lambda e: service(e).type),
            ("Enabled", "enabled"),
            ("Interface", "interface"),
            ("URL", "url"),
        ]
    )


@command(
    "endpoint create",
    help="create an endpoint of a service",
    output="show",
    columns=ENDPOINT_FIELDS,
)
@arg("service", help="service name, type or ID")
@arg("interface", choices=resources.enum_choices(INTERFACE), help="endpoint interface")
@arg("url", help="the endpoint's URL")
@arg("--region", default="", help="region of the endpoint")
@enable_flags("endpoint")
def endpoint_create(ctx, args):
    endpoint = pb.Endpoint(
        service_id=find_service(ctx, args.service).id,
        url=args.url,
        interface=resources.enum_number(INTERFACE, args.interface),
        region=args.region,
        enabled=args.enabled is not False,
    )
    return show_endpoint(
        ctx,
        ctx.session.call(identity(ctx).CreateEndpoint, pb.CreateEndpointRequest(endpoint=endpoint)),
    )


@command(
    "endpoint list",
    help="list endpoints",
    output="list",
    columns=endpoint_columns(service=None).headings,
)
@arg("--service", help="only this service's (name, type or ID)")
@arg("--interface", choices=resources.enum_choices(INTERFACE), help="only this interface")
@arg("--region", help="only this region's")
def endpoint_list(ctx, args):
    request = pb.ListEndpointsRequest(region=args.region or "")
    if args.service:
        request.service_id = find_service(ctx, args.service).id
    if args.interface:
        request.interface = resources.enum_number(INTERFACE, args.interface)
    return resources.listing(
        ctx.session.paged(identity(ctx).ListEndpoints, request, "endpoints"),
        endpoint_columns(endpoint_row_service(ctx)).chosen(args),
    )


@command("endpoint show", help="show an endpoint's details", output="show", columns=ENDPOINT_FIELDS)
@arg("endpoint", help="endpoint ID")
def endpoint_show(ctx, args):
    return show_endpoint(ctx, find_endpoint(ctx, args.endpoint))


@command("endpoint set", help="change an endpoint")
@arg("endpoint", help="endpoint ID")
@arg("--interface", choices=resources.enum_choices(INTERFACE), help="new interface")
@arg("--url", help="new URL")
@arg("--region", help="new region")
@enable_flags("endpoint")
def endpoint_set(ctx, args):
    interface = resources.enum_number(INTERFACE, args.interface) if args.interface else None
    updated(
        ctx,
        identity(ctx).UpdateEndpoint,
        find_endpoint(ctx, args.endpoint),
        pb.UpdateEndpointRequest,
        "endpoint",
        {"interface": interface, "url": args.url, "region": args.region, "enabled": args.enabled},
    )


@command("endpoint delete", help="delete endpoints")
@arg("endpoints", nargs="+", metavar="ENDPOINT", help="endpoint ID")
def endpoint_delete(ctx, args):
    resources.delete_each(
        ctx,
        "endpoint",
        args.endpoints,
        lambda endpoint_id: ctx.session.call(
            identity(ctx).DeleteEndpoint, pb.DeleteEndpointRequest(id=endpoint_id)
        ),
    )


# -- catalog -----------------------------------------------------------------------------


def endpoint_lines(entry) -> str:
    lines = []
    for endpoint in entry.endpoints:
        interface = resources.enum_name(INTERFACE, endpoint.interface) or ""
        lines += [endpoint.region or "", f"  {interface}: {endpoint.url}"]
    return "\n".join(line for line in lines if line)


CATALOG_COLUMNS = resources.Columns(
    [("Name", "name"), ("Type", "type"), ("Endpoints", endpoint_lines)]
)


@command(
    "catalog list", help="list the service catalog", output="list", columns=CATALOG_COLUMNS.headings
)
def catalog_list(ctx, args):
    catalog = ctx.session.call(identity(ctx).GetCatalog, pb.GetCatalogRequest())
    return resources.listing(catalog.entries, CATALOG_COLUMNS.chosen(args))
