"""Identity rows and values as protobuf messages."""

from controller.rpc.convert import timestamp
from stratus.identity.v1 import identity_service_pb2 as pb

INTERFACE_TO_PB = {
    "public": pb.ENDPOINT_INTERFACE_PUBLIC,
    "internal": pb.ENDPOINT_INTERFACE_INTERNAL,
    "admin": pb.ENDPOINT_INTERFACE_ADMIN,
}
INTERFACE_FROM_PB = {v: k for k, v in INTERFACE_TO_PB.items()}


def user(row) -> pb.User:
    return pb.User(
        id=row.id,
        name=row.name,
        email=row.email,
        enabled=row.enabled,
        default_project_id=row.default_project_id or "",
        description=row.description,
        create_time=timestamp(row.created_at),
        update_time=timestamp(row.updated_at),
    )


def project(row) -> pb.Project:
    return pb.Project(
        id=row.id,
        name=row.name,
        description=row.description,
        enabled=row.enabled,
        create_time=timestamp(row.created_at),
        update_time=timestamp(row.updated_at),
    )


def role(row) -> pb.Role:
    return pb.Role(
        id=row.id, name=row.name, description=row.description, create_time=timestamp(row.created_at)
    )


def assignment(row) -> pb.RoleAssignment:
    return pb.RoleAssignment(
        user_id=row.user_id,
        project_id=row.project_id,
        role_id=row.role_id,
        role_name=row.role_name,
        user_name=row.user_name,
        project_name=row.project_name,
    )


def service(row) -> pb.Service:
    return pb.Service(
        id=row.id,
        type=row.type,
        name=row.name,
        description=row.description,
        enabled=row.enabled,
        create_time=timestamp(row.created_at),
    )


def endpoint(row) -> pb.Endpoint:
    return pb.Endpoint(
        id=row.id,
        service_id=row.service_id,
        interface=INTERFACE_TO_PB[row.interface],
        region=row.region,
        url=row.url,
        enabled=row.enabled,
        create_time=timestamp(row.created_at),
    )


def catalog(entries) -> pb.Catalog:
    return pb.Catalog(
        entries=[
            pb.CatalogEntry(
                service_id=e.service.id,
                type=e.service.type,
                name=e.service.name,
                endpoints=[
                    pb.CatalogEndpoint(
                        id=ep.id,
                        interface=INTERFACE_TO_PB[ep.interface],
                        region=ep.region,
                        url=ep.url,
                    )
                    for ep in e.endpoints
                ],
            )
            for e in entries
        ]
    )


def token_info(identity, catalog_message: pb.Catalog | None = None) -> pb.TokenInfo:
    return pb.TokenInfo(
        user_id=identity.user_id,
        user_name=identity.user_name,
        project_id=identity.project_id or "",
        project_name=identity.project_name or "",
        roles=list(identity.roles),
        methods=list(identity.methods),
        issue_time=timestamp(identity.issued_at),
        expire_time=timestamp(identity.expires_at),
        audit_id=identity.audit_id,
        catalog=catalog_message,
    )
