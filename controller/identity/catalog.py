"""The service catalog: services and the endpoints where each is reached."""

import itertools
import time
import uuid
from dataclasses import dataclass

from controller.db.paging import paginate
from controller.db.queries import get_or_not_found, unique, utcnow
from controller.identity.models import CatalogEndpoint, CatalogService

INTERFACES = ("public", "internal", "admin")
SERVICE_UPDATABLE = {"type", "name", "description", "enabled"}
ENDPOINT_UPDATABLE = {"interface", "region", "url", "enabled"}

_changes = itertools.count(1)
generation = 0


def _changed():
    """Every write bumps the generation once it is done, so this process's cached catalog is
    rebuilt (a bump before the write could let a concurrent rebuild cache the old rows)."""
    global generation  # noqa: PLW0603 - the process-wide cache key
    generation = next(_changes)


def create_service(type_: str, name: str, description: str = "", enabled: bool = True):
    service = CatalogService.create(
        id=str(uuid.uuid4()),
        type=type_,
        name=name,
        description=description,
        enabled=enabled,
        created_at=utcnow(),
    )
    _changed()
    return service


def get_service(service_id: str):
    return get_or_not_found(CatalogService, service_id, "service")


def list_services(page, type_=None, name=None):
    query = CatalogService.select()
    if type_:
        query = query.where(CatalogService.type == type_)
    if name:
        query = query.where(CatalogService.name == name)
    return paginate(query, page, [CatalogService.type, CatalogService.id])


def update_service(service_id: str, changes: dict):
    service = get_service(service_id)
    for key, value in changes.items():
        setattr(service, key, value)
    service.save()
    _changed()
    return service


def delete_service(service_id: str):
    get_service(service_id).delete_instance()
    _changed()


def _endpoint_key(service_id, interface, region):
    return f"{service_id}/{interface}/{region}"


def create_endpoint(service_id: str, interface: str, region: str, url: str, enabled: bool = True):
    get_service(service_id)
    with unique(
        "endpoint", "service/interface/region", _endpoint_key(service_id, interface, region)
    ):
        endpoint = CatalogEndpoint.create(
            id=str(uuid.uuid4()),
            service=service_id,
            interface=interface,
            region=region,
            url=url,
            enabled=enabled,
            created_at=utcnow(),
        )
    _changed()
    return endpoint


def get_endpoint(endpoint_id: str):
    return get_or_not_found(CatalogEndpoint, endpoint_id, "endpoint")


def list_endpoints(page, service_id=None, interface=None, region=None):
    query = CatalogEndpoint.select()
    if service_id:
        query = query.where(CatalogEndpoint.service == service_id)
    if interface:
        query = query.where(CatalogEndpoint.interface == interface)
    if region:
        query = query.where(CatalogEndpoint.region == region)
    return paginate(query, page, [CatalogEndpoint.id])


def update_endpoint(endpoint_id: str, changes: dict):
    endpoint = get_endpoint(endpoint_id)
    for key, value in changes.items():
        setattr(endpoint, key, value)
    with unique(
        "endpoint",
        "service/interface/region",
        _endpoint_key(endpoint.service_id, endpoint.interface, endpoint.region),
    ):
        endpoint.save()
    _changed()
    return endpoint


def delete_endpoint(endpoint_id: str):
    get_endpoint(endpoint_id).delete_instance()
    _changed()


@dataclass(frozen=True)
class Entry:
    service: CatalogService
    endpoints: list


def catalog() -> list[Entry]:
    """Enabled services with their enabled endpoints."""
    services = list(
        CatalogService.select()
        .where(CatalogService.enabled == True)  # noqa: E712
        .order_by(CatalogService.type, CatalogService.id)
    )
    endpoints = {}
    for endpoint in (
        CatalogEndpoint.select()
        .where(CatalogEndpoint.enabled == True)  # noqa: E712
        .order_by(CatalogEndpoint.interface, CatalogEndpoint.region)
    ):
        endpoints.setdefault(endpoint.service_id, []).append(endpoint)
    return [Entry(s, endpoints.get(s.id, [])) for s in services]


class CatalogCache:
    """The catalog for token responses without a query per token.

    Rebuilt after any catalog write in this process, and at least every `ttl` seconds so
    writes made through another controller replica show up.
    """

    def __init__(self, db, ttl: float):
        self.db = db
        self.ttl = ttl
        self._entries: list[Entry] | None = None
        self._generation = -1
        self._until = 0.0

    async def get(self) -> list[Entry]:
        if (
            self._entries is None
            or self._generation != generation
            or time.monotonic() >= self._until
        ):
            seen = generation
            self._entries = await self.db.run(catalog)
            self._generation, self._until = seen, time.monotonic() + self.ttl
        return self._entries
