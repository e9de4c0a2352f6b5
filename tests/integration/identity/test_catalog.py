"""The service catalog: services and endpoints, and what GetCatalog shows of them."""

import grpc
import pytest

from stratus.identity.v1 import identity_service_pb2 as ipb
from tests.integration.identity.helpers import MISSING_ID, list_all, mask, unchanged, unknown_id
from tests.support.cloud import unique
from tests.support.errors import raises

INVALID = grpc.StatusCode.INVALID_ARGUMENT
PUBLIC, INTERNAL, ADMIN = (
    ipb.ENDPOINT_INTERFACE_PUBLIC,
    ipb.ENDPOINT_INTERFACE_INTERNAL,
    ipb.ENDPOINT_INTERFACE_ADMIN,
)


def _service(cloud, type_="storage", **fields):
    fields.setdefault("enabled", True)
    return cloud.identity.CreateService(
        ipb.CreateServiceRequest(service=ipb.Service(type=type_, name=unique("svc"), **fields)),
        metadata=cloud.admin,
    )


def _endpoint(
    cloud, service_id, interface=PUBLIC, region="r1", url="https://svc.example:8443", enabled=True
):
    return cloud.identity.CreateEndpoint(
        ipb.CreateEndpointRequest(
            endpoint=ipb.Endpoint(
                service_id=service_id, interface=interface, region=region, url=url, enabled=enabled
            )
        ),
        metadata=cloud.admin,
    )


@pytest.fixture(scope="module")
def service(cloud):
    return _service(cloud, description="objects")


# -- services -----------------------------------------------------------------------------------


def test_bootstrap_made_the_three_services_with_three_interfaces(cloud):
    services = {s.type: s for s in list_all(cloud.identity, "services", cloud.admin)}
    assert {"identity", "image", "compute"} <= set(services)
    for type_ in ("identity", "image", "compute"):
        endpoints = list_all(
            cloud.identity, "endpoints", cloud.admin, service_id=services[type_].id
        )
        assert sorted(e.interface for e in endpoints) == [PUBLIC, INTERNAL, ADMIN]


def test_service_create_get_update_delete(cloud):
    created = _service(cloud, "dns", description="names")
    assert (
        cloud.identity.GetService(ipb.GetServiceRequest(id=created.id), metadata=cloud.admin)
        == created
    )
    renamed = cloud.identity.UpdateService(
        ipb.UpdateServiceRequest(
            service=ipb.Service(id=created.id, type="ignored", description="zones"),
            update_mask=mask("description"),
        ),
        metadata=cloud.admin,
    )
    assert (renamed.type, renamed.description, renamed.name) == ("dns", "zones", created.name)
    retyped = cloud.identity.UpdateService(
        ipb.UpdateServiceRequest(
            service=ipb.Service(id=created.id, type="dns-v2"), update_mask=mask("type")
        ),
        metadata=cloud.admin,
    )
    assert (retyped.type, retyped.name) == ("dns-v2", created.name)
    endpoint = _endpoint(cloud, created.id)
    cloud.identity.DeleteService(ipb.DeleteServiceRequest(id=created.id), metadata=cloud.admin)
    with raises(grpc.StatusCode.NOT_FOUND, "SERVICE_NOT_FOUND"):
        cloud.identity.GetService(ipb.GetServiceRequest(id=created.id), metadata=cloud.admin)
    with raises(grpc.StatusCode.NOT_FOUND, "ENDPOINT_NOT_FOUND"):
        cloud.identity.GetEndpoint(ipb.GetEndpointRequest(id=endpoint.id), metadata=cloud.admin)


@pytest.mark.parametrize(
    "service, field",
    [
        (ipb.Service(type="", name="n"), "service.type"),
        (ipb.Service(type="t" * 65, name="n"), "service.type"),
        (ipb.Service(type="Object Store", name="n"), "service.type"),
        (ipb.Service(type="storage", name=""), "service.name"),
        (ipb.Service(type="storage", name="n" * 256), "service.name"),
        (ipb.Service(type="storage", name="n", description="d" * 65536), "service.description"),
    ],
)
def test_service_create_refuses_bad_input(cloud, service, field):
    with unchanged(cloud), raises(INVALID, "INVALID_ARGUMENT", field):
        cloud.identity.CreateService(
            ipb.CreateServiceRequest(service=service), metadata=cloud.admin
        )


@pytest.mark.parametrize(
    "changes, paths, field",
    [
        (ipb.Service(id="bad"), ["enabled"], "service.id"),
        (ipb.Service(), [], "update_mask"),
        (ipb.Service(), ["id"], "update_mask"),
        (ipb.Service(), ["create_time"], "update_mask"),
        (ipb.Service(type=""), ["type"], "service.type"),
        (ipb.Service(type="UPPER"), ["type"], "service.type"),
        (ipb.Service(name=""), ["name"], "service.name"),
        (ipb.Service(description="d" * 65536), ["description"], "service.description"),
    ],
)
def test_service_update_refuses_bad_input(cloud, service, changes, paths, field):
    changes.id = changes.id or service.id
    with unchanged(cloud), raises(INVALID, "INVALID_ARGUMENT", field):
        cloud.identity.UpdateService(
            ipb.UpdateServiceRequest(service=changes, update_mask=mask(*paths)),
            metadata=cloud.admin,
        )


@pytest.mark.parametrize(
    "service_id, code, reason",
    [
        ("", INVALID, "INVALID_ARGUMENT"),
        ("nope", INVALID, "INVALID_ARGUMENT"),
        (MISSING_ID, grpc.StatusCode.NOT_FOUND, "SERVICE_NOT_FOUND"),
    ],
)
def test_service_get_update_delete_refuse_unknown_ids(cloud, service_id, code, reason):
    with raises(code, reason):
        cloud.identity.GetService(ipb.GetServiceRequest(id=service_id), metadata=cloud.admin)
    with unchanged(cloud), raises(code, reason):
        cloud.identity.UpdateService(
            ipb.UpdateServiceRequest(
                service=ipb.Service(id=service_id, enabled=False), update_mask=mask("enabled")
            ),
            metadata=cloud.admin,
        )
    with unchanged(cloud), raises(code, reason):
        cloud.identity.DeleteService(ipb.DeleteServiceRequest(id=service_id), metadata=cloud.admin)


def test_list_services_filters(cloud):
    kind = unique("kind")
    made = [_service(cloud, kind) for _ in range(3)]
    assert sorted(
        s.id for s in list_all(cloud.identity, "services", cloud.admin, type=kind)
    ) == sorted(s.id for s in made)
    assert [s.id for s in list_all(cloud.identity, "services", cloud.admin, name=made[1].name)] == [
        made[1].id
    ]
    assert not list_all(cloud.identity, "services", cloud.admin, type=kind, name=made[0].name + "x")
    with raises(INVALID, "INVALID_ARGUMENT", "page_size"):
        cloud.identity.ListServices(ipb.ListServicesRequest(page_size=-1), metadata=cloud.admin)


# -- endpoints ----------------------------------------------------------------------------------


def test_endpoint_create_get_update_delete(cloud, service):
    endpoint = _endpoint(cloud, service.id, INTERNAL, unique("region"), "grpc://10.0.0.1:5000")
    assert (
        cloud.identity.GetEndpoint(ipb.GetEndpointRequest(id=endpoint.id), metadata=cloud.admin)
        == endpoint
    )
    changed = cloud.identity.UpdateEndpoint(
        ipb.UpdateEndpointRequest(
            endpoint=ipb.Endpoint(
                id=endpoint.id, url="grpcs://10.0.0.2:5001", interface=ADMIN, region="ignored"
            ),
            update_mask=mask("url", "interface"),
        ),
        metadata=cloud.admin,
    )
    assert (changed.url, changed.interface, changed.region) == (
        "grpcs://10.0.0.2:5001",
        ADMIN,
        endpoint.region,
    )
    cloud.identity.DeleteEndpoint(ipb.DeleteEndpointRequest(id=endpoint.id), metadata=cloud.admin)
    with raises(grpc.StatusCode.NOT_FOUND, "ENDPOINT_NOT_FOUND"):
        cloud.identity.GetEndpoint(ipb.GetEndpointRequest(id=endpoint.id), metadata=cloud.admin)


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"service_id": ""}, "endpoint.service_id"),
        ({"service_id": "bad"}, "endpoint.service_id"),
        ({"interface": ipb.ENDPOINT_INTERFACE_UNSPECIFIED}, "endpoint.interface"),
        ({"interface": 42}, "endpoint.interface"),
        ({"region": ""}, "endpoint.region"),
        ({"region": "r" * 256}, "endpoint.region"),
        ({"url": ""}, "endpoint.url"),
        ({"url": "ftp://files.example"}, "endpoint.url"),
        ({"url": "https://" + "u" * 1020}, "endpoint.url"),
    ],
)
def test_endpoint_create_refuses_bad_input(cloud, service, fields, field):
    values = {
        "service_id": service.id,
        "interface": PUBLIC,
        "region": "r1",
        "url": "https://ok.example",
        **fields,
    }
    with unchanged(cloud), raises(INVALID, "INVALID_ARGUMENT", field):
        cloud.identity.CreateEndpoint(
            ipb.CreateEndpointRequest(endpoint=ipb.Endpoint(**values)), metadata=cloud.admin
        )


def test_endpoint_create_refuses_an_unknown_service(cloud):
    with unchanged(cloud), raises(grpc.StatusCode.NOT_FOUND, "SERVICE_NOT_FOUND"):
        _endpoint(cloud, unknown_id())


def test_endpoint_duplicates_are_refused(cloud, service):
    region = unique("dup")
    first = _endpoint(cloud, service.id, PUBLIC, region)
    second = _endpoint(cloud, service.id, INTERNAL, region)
    with unchanged(cloud), raises(grpc.StatusCode.ALREADY_EXISTS, "ENDPOINT_EXISTS"):
        _endpoint(cloud, service.id, PUBLIC, region, url="https://elsewhere.example")
    with unchanged(cloud), raises(grpc.StatusCode.ALREADY_EXISTS, "ENDPOINT_EXISTS"):
        cloud.identity.UpdateEndpoint(
            ipb.UpdateEndpointRequest(
                endpoint=ipb.Endpoint(id=second.id, interface=PUBLIC), update_mask=mask("interface")
            ),
            metadata=cloud.admin,
        )
    # The same interface and region on another service is fine.
    other = _service(cloud)
    assert _endpoint(cloud, other.id, PUBLIC, region).id != first.id


@pytest.mark.parametrize(
    "changes, paths, field",
    [
        (ipb.Endpoint(id="bad"), ["enabled"], "endpoint.id"),
        (ipb.Endpoint(), [], "update_mask"),
        (ipb.Endpoint(), ["service_id"], "update_mask"),
        (ipb.Endpoint(), ["interface"], "endpoint.interface"),
        (ipb.Endpoint(region=""), ["region"], "endpoint.region"),
        (ipb.Endpoint(url="mailto:x"), ["url"], "endpoint.url"),
    ],
)
def test_endpoint_update_refuses_bad_input(cloud, service, changes, paths, field):
    endpoint = _endpoint(cloud, service.id, region=unique("upd"))
    changes.id = changes.id or endpoint.id
    with unchanged(cloud), raises(INVALID, "INVALID_ARGUMENT", field):
        cloud.identity.UpdateEndpoint(
            ipb.UpdateEndpointRequest(endpoint=changes, update_mask=mask(*paths)),
            metadata=cloud.admin,
        )


@pytest.mark.parametrize(
    "endpoint_id, code, reason",
    [
        ("", INVALID, "INVALID_ARGUMENT"),
        ("nope", INVALID, "INVALID_ARGUMENT"),
        (MISSING_ID, grpc.StatusCode.NOT_FOUND, "ENDPOINT_NOT_FOUND"),
    ],
)
def test_endpoint_get_update_delete_refuse_unknown_ids(cloud, endpoint_id, code, reason):
    with raises(code, reason):
        cloud.identity.GetEndpoint(ipb.GetEndpointRequest(id=endpoint_id), metadata=cloud.admin)
    with unchanged(cloud), raises(code, reason):
        cloud.identity.UpdateEndpoint(
            ipb.UpdateEndpointRequest(
                endpoint=ipb.Endpoint(id=endpoint_id, enabled=True), update_mask=mask("enabled")
            ),
            metadata=cloud.admin,
        )
    with unchanged(cloud), raises(code, reason):
        cloud.identity.DeleteEndpoint(
            ipb.DeleteEndpointRequest(id=endpoint_id), metadata=cloud.admin
        )


def test_list_endpoints_filters(cloud):
    svc = _service(cloud)
    region = unique("reg")
    made = {
        (i, r): _endpoint(cloud, svc.id, i, r)
        for i in (PUBLIC, INTERNAL)
        for r in (region, "elsewhere")
    }

    def ids(**filters):
        return sorted(e.id for e in list_all(cloud.identity, "endpoints", cloud.admin, **filters))

    assert ids(service_id=svc.id) == sorted(e.id for e in made.values())
    assert ids(service_id=svc.id, interface=PUBLIC) == sorted(
        [made[PUBLIC, region].id, made[PUBLIC, "elsewhere"].id]
    )
    assert ids(region=region) == sorted([made[PUBLIC, region].id, made[INTERNAL, region].id])
    assert ids(service_id=svc.id, interface=INTERNAL, region=region) == [made[INTERNAL, region].id]
    for fields, field in (
        ({"service_id": "x"}, "service_id"),
        ({"interface": 9}, "interface"),
        ({"page_size": -1}, "page_size"),
    ):
        with raises(INVALID, "INVALID_ARGUMENT", field):
            cloud.identity.ListEndpoints(ipb.ListEndpointsRequest(**fields), metadata=cloud.admin)


# -- GetCatalog ---------------------------------------------------------------------------------


def test_catalog_hides_disabled_services_and_endpoints(cloud, member):
    svc = _service(cloud, "hidden-test")
    shown = _endpoint(cloud, svc.id, PUBLIC)
    hidden = _endpoint(cloud, svc.id, INTERNAL, enabled=False)

    def entry():
        found = [
            e
            for e in cloud.identity.GetCatalog(
                ipb.GetCatalogRequest(), metadata=member.metadata
            ).entries
            if e.service_id == svc.id
        ]
        return found[0] if found else None

    assert entry().type == "hidden-test"
    assert [e.id for e in entry().endpoints] == [shown.id] and hidden.id != shown.id
    cloud.identity.UpdateService(
        ipb.UpdateServiceRequest(
            service=ipb.Service(id=svc.id, enabled=False), update_mask=mask("enabled")
        ),
        metadata=cloud.admin,
    )
    assert entry() is None


def test_validation_carries_the_catalog_as_it_is_now(cloud, member):
    # Validations of one token share one response: a catalog change still shows in the next.
    def validated_types():
        info = cloud.identity.ValidateToken(
            ipb.ValidateTokenRequest(token=member.token), metadata=member.metadata
        ).info
        return {e.type for e in info.catalog.entries}

    before = validated_types()
    assert validated_types() == before
    svc = _service(cloud, "validated-test")
    _endpoint(cloud, svc.id, PUBLIC)
    assert validated_types() == before | {"validated-test"}
    cloud.identity.UpdateService(
        ipb.UpdateServiceRequest(
            service=ipb.Service(id=svc.id, enabled=False), update_mask=mask("enabled")
        ),
        metadata=cloud.admin,
    )
    assert validated_types() == before
