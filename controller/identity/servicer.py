"""stratus.identity.v1.IdentityService: validate, call the domain, convert. Nothing else."""

import asyncio
import re
import uuid

from google.protobuf import empty_pb2

from controller import validation
from controller.auth import context as auth_context
from controller.auth.context import Identity
from controller.db.paging import page_request
from controller.identity import catalog, convert, passwords, projects, roles, users
from controller.identity.project_reads import ProjectReads
from controller.rpc.convert import changes, optional
from controller.rpc.policy_spec import rpc
from stratus.identity.v1 import identity_service_pb2 as pb
from stratus.identity.v1 import identity_service_pb2_grpc as pb_grpc
from stratus_common import errors

EMPTY = empty_pb2.Empty()
_SERVICE_TYPE = re.compile(r"[a-z][a-z0-9_-]*")


def _canonical(value: str) -> str:
    """A UUID in the form tokens carry, so policy compares like with like; anything else as is
    (the method's own validation refuses it)."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return value


def _by_id(field):
    return lambda request, auth: {field: _canonical(request.id)}


def _user_id_of(request, auth):
    return {"user_id": _canonical(request.user_id)}


def _enabled(resource) -> bool:
    """Resources are created enabled unless the request says otherwise."""
    return resource.enabled if resource.HasField("enabled") else True


class IdentityServicer(pb_grpc.IdentityServiceServicer):
    def __init__(self, db, tokens, settings):
        self.db = db
        self.tokens = tokens
        self.settings = settings
        self.life = settings.token_expiration
        self.catalog = catalog.CatalogCache(db, settings.token_cache_seconds)
        self.projects = ProjectReads(db, settings.token_cache_seconds, settings.token_cache_size)
        self._catalog_pb = (None, None)  # (entries, their message): token responses share one
        # identity -> (catalog message, ValidateTokenResponse): the validations of one token
        # share one response until the catalog changes; bounded as the token cache is.
        self._validations: dict[Identity, tuple[pb.Catalog | None, pb.ValidateTokenResponse]] = {}

    # -- tokens ------------------------------------------------------------------------------
    @rpc.open
    async def IssueToken(self, request, context):
        if not (request.user_name or request.user_id):
            raise errors.InvalidArgument("user_name", "name the user by user_name or user_id")
        if not request.password:
            raise errors.InvalidArgument("password", "is required")
        if request.project_id:
            validation.uuid("project_id", request.project_id)
        user_id = validation.optional_uuid("user_id", request.user_id)
        token, identity = await self.tokens.issue(
            user_id=user_id,
            user_name=request.user_name,
            password=request.password,
            project_id=request.project_id or None,
            project_name=request.project_name or None,
        )
        return pb.IssueTokenResponse(token=token, info=await self._token_info(identity))

    async def _subject(self, token, rule):
        if not token:
            raise errors.InvalidArgument("token", "is required")
        payload = self.tokens.subject(token)
        auth_context.current.get().authorize(rule, {"user_id": payload.user_id})
        return payload

    async def _valid(self, token):
        try:
            return await self.tokens.validate(token)
        except errors.Unauthenticated:
            raise errors.NotFound("The token is not valid", reason="TOKEN_NOT_FOUND") from None

    @rpc("identity:validate_token", deferred=True)
    async def ValidateToken(self, request, context):
        await self._subject(request.token, "identity:validate_token")
        return await self._validation(await self._valid(request.token))

    @rpc("identity:revoke_token", deferred=True)
    async def RevokeToken(self, request, context):
        payload = await self._subject(request.token, "identity:revoke_token")
        await self._valid(request.token)  # already revoked, or its user gone: nothing to revoke
        await self.tokens.revoke(payload)
        return EMPTY

    async def _catalog_message(self):
        entries = await self.catalog.get()
        if self._catalog_pb[0] is not entries:
            self._catalog_pb = (entries, convert.catalog(entries))
        return self._catalog_pb[1]

    async def _validation(self, identity: Identity) -> pb.ValidateTokenResponse:
        """ValidateToken's answer for a token that proved to carry `identity`."""
        catalog = await self._catalog_message() if identity.project_id else None
        kept = self._validations.get(identity)
        if kept is not None and kept[0] is catalog:
            return kept[1]
        response = pb.ValidateTokenResponse(info=convert.token_info(identity, catalog))
        self._validations[identity] = (catalog, response)
        if len(self._validations) > self.settings.token_cache_size:
            del self._validations[next(iter(self._validations))]
        return response

    async def _token_info(self, identity):
        """Scoped tokens carry the catalog, as Keystone's do."""
        return convert.token_info(
            identity, await self._catalog_message() if identity.project_id else None
        )

    @rpc("identity:get_catalog")
    async def GetCatalog(self, request, context):
        return await self._catalog_message()

    # -- users -------------------------------------------------------------------------------
    @rpc("identity:create_user")
    async def CreateUser(self, request, context):
        u = request.user
        validation.name("user.name", u.name)
        validation.text("user.email", u.email, 255)
        validation.text("user.description", u.description)
        default_project = validation.optional_uuid("user.default_project_id", u.default_project_id)
        users.check_password_policy(request.password, self.settings.minimum_password_length)
        hashed = await asyncio.to_thread(passwords.hash_password, request.password)
        row = await self.db.run(
            users.create, u.name, hashed, u.email, _enabled(u), default_project, u.description
        )
        return convert.user(row)

    @rpc("identity:get_user", target=_by_id("user_id"))
    async def GetUser(self, request, context):
        return convert.user(await self.db.run(users.get, validation.uuid("id", request.id)))

    @rpc("identity:list_users")
    async def ListUsers(self, request, context):
        enabled = optional(request, "enabled")
        page = page_request(
            request.page_size, request.page_token, {"name": request.name, "enabled": enabled}
        )
        rows, token = await self.db.run(users.list_, page, request.name, enabled)
        return pb.ListUsersResponse(users=[convert.user(r) for r in rows], next_page_token=token)

    @rpc("identity:update_user")
    async def UpdateUser(self, request, context):
        user_id = validation.uuid("user.id", request.user.id)
        paths = validation.update_mask(request.update_mask.paths, users.UPDATABLE)
        u = request.user
        if "name" in paths:
            validation.name("user.name", u.name)
        if "email" in paths:
            validation.text("user.email", u.email, 255)
        if "description" in paths:
            validation.text("user.description", u.description)
        update = changes(u, paths - {"password"})
        if "default_project_id" in paths:
            update["default_project_id"] = validation.optional_uuid(
                "user.default_project_id", u.default_project_id
            )
        hashed = None
        if "password" in paths:
            users.check_password_policy(request.password, self.settings.minimum_password_length)
            hashed = await asyncio.to_thread(passwords.hash_password, request.password)
        row = await self.db.run(users.update, user_id, update, self.life, hashed)
        return convert.user(row)

    @rpc("identity:delete_user", target=_by_id("user_id"))
    async def DeleteUser(self, request, context):
        await self.db.run(users.delete, validation.uuid("id", request.id), self.life)
        return EMPTY

    @rpc("identity:change_password", target=_user_id_of)
    async def ChangePassword(self, request, context):
        user_id = validation.uuid("user_id", request.user_id)
        if not request.original_password:
            raise errors.InvalidArgument("original_password", "is required")
        users.check_password_policy(
            request.new_password, self.settings.minimum_password_length, "new_password"
        )
        user = await self.db.run(users.get, user_id)
        if not await asyncio.to_thread(
            passwords.verify_password, request.original_password, user.password_hash
        ):
            raise errors.Unauthenticated(
                "The original password is wrong", reason="AUTHENTICATION_FAILED"
            )
        hashed = await asyncio.to_thread(passwords.hash_password, request.new_password)
        await self.db.run(users.update, user_id, {}, self.life, hashed)
        return EMPTY

    # -- projects ----------------------------------------------------------------------------
    @rpc("identity:create_project")
    async def CreateProject(self, request, context):
        p = request.project
        validation.name("project.name", p.name)
        validation.text("project.description", p.description)
        return convert.project(
            await self.db.run(projects.create, p.name, p.description, _enabled(p))
        )

    @rpc("identity:get_project", target=_by_id("project_id"))
    async def GetProject(self, request, context):
        return await self.projects.get(validation.uuid("id", request.id))

    @rpc("identity:list_projects", target=_user_id_of)
    async def ListProjects(self, request, context):
        enabled = optional(request, "enabled")
        user_id = validation.optional_uuid("user_id", request.user_id)
        page = page_request(
            request.page_size,
            request.page_token,
            {"name": request.name, "enabled": enabled, "user": user_id},
        )
        rows, token = await self.db.run(projects.list_, page, request.name, enabled, user_id)
        return pb.ListProjectsResponse(
            projects=[convert.project(r) for r in rows], next_page_token=token
        )

    @rpc("identity:update_project")
    async def UpdateProject(self, request, context):
        project_id = validation.uuid("project.id", request.project.id)
        paths = validation.update_mask(request.update_mask.paths, projects.UPDATABLE)
        if "name" in paths:
            validation.name("project.name", request.project.name)
        if "description" in paths:
            validation.text("project.description", request.project.description)
        row = await self.db.run(
            projects.update, project_id, changes(request.project, paths), self.life
        )
        return convert.project(row)

    @rpc("identity:delete_project")
    async def DeleteProject(self, request, context):
        await self.db.run(projects.delete, validation.uuid("id", request.id), self.life)
        return EMPTY

    # -- roles -------------------------------------------------------------------------------
    @rpc("identity:create_role")
    async def CreateRole(self, request, context):
        validation.name("role.name", request.role.name)
        return convert.role(
            await self.db.run(roles.create, request.role.name, request.role.description)
        )

    @rpc("identity:get_role")
    async def GetRole(self, request, context):
        return convert.role(await self.db.run(roles.get, validation.uuid("id", request.id)))

    @rpc("identity:list_roles")
    async def ListRoles(self, request, context):
        page = page_request(request.page_size, request.page_token, {"name": request.name})
        rows, token = await self.db.run(roles.list_, page, request.name)
        return pb.ListRolesResponse(roles=[convert.role(r) for r in rows], next_page_token=token)

    @rpc("identity:delete_role")
    async def DeleteRole(self, request, context):
        await self.db.run(roles.delete, validation.uuid("id", request.id))
        return EMPTY

    def _assignment_ids(self, request):
        return (
            validation.uuid("user_id", request.user_id),
            validation.uuid("project_id", request.project_id),
            validation.uuid("role_id", request.role_id),
        )

    @rpc("identity:assign_role")
    async def AssignRole(self, request, context):
        user_id, project_id, role_id = self._assignment_ids(request)
        return convert.assignment(await self.db.run(roles.assign, user_id, project_id, role_id))

    @rpc("identity:unassign_role")
    async def UnassignRole(self, request, context):
        await self.db.run(roles.unassign, *self._assignment_ids(request), self.life)
        return EMPTY

    @rpc("identity:list_role_assignments", target=_user_id_of)
    async def ListRoleAssignments(self, request, context):
        ids = {
            f: validation.optional_uuid(f, getattr(request, f))
            for f in ("user_id", "project_id", "role_id")
        }
        page = page_request(request.page_size, request.page_token, ids)
        rows, token = await self.db.run(roles.list_assignments, page, **ids)
        return pb.ListRoleAssignmentsResponse(
            role_assignments=[convert.assignment(r) for r in rows], next_page_token=token
        )

    # -- catalog -----------------------------------------------------------------------------
    @staticmethod
    def _service_fields(s, paths=("type", "name", "description")):
        if "type" in paths:
            validation.name("service.type", s.type, 64)
            if not _SERVICE_TYPE.fullmatch(s.type):
                raise errors.InvalidArgument(
                    "service.type",
                    "must be a lower-case word such as identity, image "
                    "or compute (a-z, 0-9, '-' and '_')",
                )
        if "name" in paths:
            validation.name("service.name", s.name)
        if "description" in paths:
            validation.text("service.description", s.description)

    @rpc("identity:create_service")
    async def CreateService(self, request, context):
        s = request.service
        self._service_fields(s)
        return convert.service(
            await self.db.run(catalog.create_service, s.type, s.name, s.description, _enabled(s))
        )

    @rpc("identity:get_service")
    async def GetService(self, request, context):
        return convert.service(
            await self.db.run(catalog.get_service, validation.uuid("id", request.id))
        )

    @rpc("identity:list_services")
    async def ListServices(self, request, context):
        page = page_request(
            request.page_size, request.page_token, {"type": request.type, "name": request.name}
        )
        rows, token = await self.db.run(catalog.list_services, page, request.type, request.name)
        return pb.ListServicesResponse(
            services=[convert.service(r) for r in rows], next_page_token=token
        )

    @rpc("identity:update_service")
    async def UpdateService(self, request, context):
        service_id = validation.uuid("service.id", request.service.id)
        paths = validation.update_mask(request.update_mask.paths, catalog.SERVICE_UPDATABLE)
        self._service_fields(request.service, paths)
        row = await self.db.run(catalog.update_service, service_id, changes(request.service, paths))
        return convert.service(row)

    @rpc("identity:delete_service")
    async def DeleteService(self, request, context):
        await self.db.run(catalog.delete_service, validation.uuid("id", request.id))
        return EMPTY

    @staticmethod
    def _interface(value, field="endpoint.interface"):
        if value not in convert.INTERFACE_FROM_PB:
            raise errors.InvalidArgument(field, "must be PUBLIC, INTERNAL or ADMIN")
        return convert.INTERFACE_FROM_PB[value]

    @staticmethod
    def _url(value):
        if (
            not value.startswith(("http://", "https://", "grpc://", "grpcs://"))
            or len(value) > 1024
        ):
            raise errors.InvalidArgument(
                "endpoint.url", "must be an http(s):// or grpc(s):// URL of at most 1024 characters"
            )
        return value

    @rpc("identity:create_endpoint")
    async def CreateEndpoint(self, request, context):
        e = request.endpoint
        service_id = validation.uuid("endpoint.service_id", e.service_id)
        interface = self._interface(e.interface)
        validation.name("endpoint.region", e.region)
        row = await self.db.run(
            catalog.create_endpoint, service_id, interface, e.region, self._url(e.url), _enabled(e)
        )
        return convert.endpoint(row)

    @rpc("identity:get_endpoint")
    async def GetEndpoint(self, request, context):
        return convert.endpoint(
            await self.db.run(catalog.get_endpoint, validation.uuid("id", request.id))
        )

    @rpc("identity:list_endpoints")
    async def ListEndpoints(self, request, context):
        service_id = validation.optional_uuid("service_id", request.service_id)
        interface = self._interface(request.interface, "interface") if request.interface else None
        page = page_request(
            request.page_size,
            request.page_token,
            {"service": service_id, "interface": interface, "region": request.region},
        )
        rows, token = await self.db.run(
            catalog.list_endpoints, page, service_id, interface, request.region
        )
        return pb.ListEndpointsResponse(
            endpoints=[convert.endpoint(r) for r in rows], next_page_token=token
        )

    @rpc("identity:update_endpoint")
    async def UpdateEndpoint(self, request, context):
        e = request.endpoint
        endpoint_id = validation.uuid("endpoint.id", e.id)
        paths = validation.update_mask(request.update_mask.paths, catalog.ENDPOINT_UPDATABLE)
        update = changes(e, paths)
        if "interface" in paths:
            update["interface"] = self._interface(e.interface)
        if "region" in paths:
            validation.name("endpoint.region", e.region)
        if "url" in paths:
            self._url(e.url)
        return convert.endpoint(await self.db.run(catalog.update_endpoint, endpoint_id, update))

    @rpc("identity:delete_endpoint")
    async def DeleteEndpoint(self, request, context):
        await self.db.run(catalog.delete_endpoint, validation.uuid("id", request.id))
        return EMPTY
