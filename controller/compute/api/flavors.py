"""Flavors: sizes of servers. Public ones are for everyone; private ones for listed projects."""

from __future__ import annotations

import re
import uuid

from controller import validation
from controller.compute.api.models import Flavor, FlavorAccess
from controller.db.paging import paginate
from controller.db.prepared import Param, Prepared
from controller.db.queries import unique, utcnow
from controller.identity.models import Project
from stratus_common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound

_ID = re.compile(r"^[A-Za-z0-9._-]{1,255}$")
_SPEC_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,255}$")
UPDATABLE = {"description", "extra_specs"}
MAX_SIZE = 2**31 - 1


def _int(field: str, value: int, minimum: int) -> int:
    if value < minimum or value > MAX_SIZE:
        raise InvalidArgument(field, f"must be between {minimum} and {MAX_SIZE}")
    return value


def check_extra_specs(specs: dict) -> dict:
    for key, value in specs.items():
        if not _SPEC_KEY.match(key):
            raise InvalidArgument("flavor.extra_specs", f"bad key {key[:64]!r}")
        validation.text("flavor.extra_specs", value, 255)
    return dict(specs)


def create(
    *,
    name: str,
    vcpus: int,
    ram_mb: int,
    disk_gb: int,
    ephemeral_gb: int = 0,
    swap_mb: int = 0,
    is_public: bool = True,
    description: str = "",
    extra_specs: dict | None = None,
    flavor_id: str = "",
) -> Flavor:
    validation.name("flavor.name", name)
    if flavor_id and not _ID.match(flavor_id):
        raise InvalidArgument("flavor_id", "1-255 letters, digits, '.', '_' or '-'")
    fields = dict(
        vcpus=_int("flavor.vcpus", vcpus, 1),
        ram_mb=_int("flavor.ram_mb", ram_mb, 1),
        disk_gb=_int("flavor.disk_gb", disk_gb, 0),
        ephemeral_gb=_int("flavor.ephemeral_gb", ephemeral_gb, 0),
        swap_mb=_int("flavor.swap_mb", swap_mb, 0),
        description=validation.text("flavor.description", description),
        extra_specs=check_extra_specs(extra_specs or {}),
    )
    flavor_id = flavor_id or str(uuid.uuid4())
    if Flavor.get_or_none(Flavor.id == flavor_id) is not None:
        raise AlreadyExists(
            f"a flavor with id {flavor_id!r} already exists", reason="FLAVOR_EXISTS", id=flavor_id
        )
    with unique("flavor", "name", name):
        return Flavor.create(
            id=flavor_id, name=name, is_public=is_public, created_at=utcnow(), **fields
        )


def _visible(query, is_admin: bool, project_id):
    if is_admin:
        return query
    return query.where(
        Flavor.is_public
        | Flavor.id.in_(
            FlavorAccess.select(FlavorAccess.flavor_id).where(FlavorAccess.project_id == project_id)
        )
    )


# A flavor by id, as admins and as projects may use it: read by every batch of creates.
_USABLE = {
    admin: Prepared(
        lambda admin=admin: _visible(
            Flavor.select().where(Flavor.id == Param("id")), admin, Param("project_id")
        )
    )
    for admin in (True, False)
}


def get(flavor_id: str, caller) -> Flavor:
    """A flavor the caller may use; a private one of other projects is NOT_FOUND."""
    flavor = _USABLE[bool(caller.is_admin)].first(id=flavor_id, project_id=caller.project_id)
    if flavor is None:
        raise NotFound(
            f"flavor {flavor_id} not found", reason="FLAVOR_NOT_FOUND", flavor_id=flavor_id
        )
    return flavor


def list_(page, caller, *, include_private=False, min_ram_mb=0, min_disk_gb=0):
    query = Flavor.select()
    if caller.is_admin and not include_private:
        query = query.where(Flavor.is_public)
    else:
        query = _visible(query, caller.is_admin, caller.project_id)
    if min_ram_mb:
        query = query.where(Flavor.ram_mb >= min_ram_mb)
    if min_disk_gb:
        query = query.where(Flavor.disk_gb >= min_disk_gb)
    return paginate(query, page, [Flavor.name, Flavor.id])


def update(flavor_id: str, changes: dict, caller) -> Flavor:
    flavor = get(flavor_id, caller)
    if "description" in changes:
        flavor.description = validation.text("flavor.description", changes["description"])
    if "extra_specs" in changes:
        flavor.extra_specs = check_extra_specs(changes["extra_specs"])
    flavor.save()
    return flavor


def delete(flavor_id: str, caller) -> None:
    flavor = get(flavor_id, caller)
    flavor.delete_instance()  # access rows go by ON DELETE CASCADE; servers keep their copy


def _private(flavor_id: str, caller) -> Flavor:
    flavor = get(flavor_id, caller)
    if flavor.is_public:
        raise FailedPrecondition(
            "a public flavor has no access list", reason="FLAVOR_IS_PUBLIC", flavor_id=flavor_id
        )
    return flavor


def access_list(flavor_id: str) -> list[str]:
    return [
        a.project_id
        for a in FlavorAccess.select()
        .where(FlavorAccess.flavor_id == flavor_id)
        .order_by(FlavorAccess.project_id)
    ]


def add_access(db, flavor_id: str, project_ids: list[str], caller) -> list[str]:
    ids = [validation.uuid("project_ids", p) for p in project_ids] or _none_given()
    with db.write_transaction():
        _private(flavor_id, caller)
        found = {p.id for p in Project.select(Project.id).where(Project.id.in_(ids))}
        missing = [p for p in ids if p not in found]
        if missing:
            raise NotFound(
                f"project {missing[0]} not found", reason="PROJECT_NOT_FOUND", project_id=missing[0]
            )
        rows = [{"flavor_id": flavor_id, "project_id": p} for p in dict.fromkeys(ids)]
        FlavorAccess.insert_many(rows).on_conflict_ignore().execute()
        return access_list(flavor_id)


def remove_access(db, flavor_id: str, project_ids: list[str], caller) -> list[str]:
    ids = [validation.uuid("project_ids", p) for p in project_ids] or _none_given()
    with db.write_transaction():
        _private(flavor_id, caller)
        FlavorAccess.delete().where(
            (FlavorAccess.flavor_id == flavor_id) & FlavorAccess.project_id.in_(ids)
        ).execute()
        return access_list(flavor_id)


def list_access(flavor_id: str, page, caller):
    _private(flavor_id, caller)
    query = FlavorAccess.select().where(FlavorAccess.flavor_id == flavor_id)
    return paginate(query, page, [FlavorAccess.project_id])


def _none_given():
    raise InvalidArgument("project_ids", "name at least one project")
