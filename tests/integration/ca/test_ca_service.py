"""stratus.ca.v1 on the real in-process controller: public API, enrollment, node listener."""

import datetime
import hashlib
import threading
import uuid

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from google.protobuf import duration_pb2

from compute_node.pki import NodePKI
from controller.ca.records import EnrollmentToken
from stratus.ca.v1 import ca_service_pb2 as pb
from stratus.ca.v1 import ca_service_pb2_grpc as pb_grpc
from tests.support.cloud import unique
from tests.support.errors import raises
from tests.unit.ca.ca_fixtures import make_csr, rsa_key, tampered


@pytest.fixture(scope="module")
def ca(cloud):
    return pb_grpc.CertificateAuthorityServiceStub(cloud.channel)


def new_host() -> str:
    return unique("node")


def token_for(ca, cloud, host, **kwargs) -> str:
    return ca.CreateEnrollmentToken(
        pb.CreateEnrollmentTokenRequest(host_name=host, **kwargs), metadata=cloud.admin
    ).token


def enroll(ca, cloud, pki: NodePKI) -> pb.EnrollNodeResponse:
    secret = token_for(ca, cloud, pki.host_name)
    response = ca.EnrollNode(pb.EnrollNodeRequest(token=secret, csr_pem=pki.new_csr().decode()))
    pki.install(response.certificate.certificate_pem.encode(), response.ca_certificate_pem.encode())
    return response


def node_channel(controller, pki: NodePKI) -> grpc.Channel:
    port = controller.app.node_listener.port
    return grpc.secure_channel(f"127.0.0.1:{port}", pki.channel_credentials())


def certificates_of(controller, host):
    return controller.app.db.call(controller.app.ca.list, host_name=host)


# -- the CA certificate and the CRL are public --------------------------------------------


def test_ca_certificate_is_open_to_anyone_and_matches_the_file(ca, controller):
    reply = ca.GetCACertificate(pb.GetCACertificateRequest())
    on_disk = (controller.app.state_dir / "ca" / "ca.crt").read_text()
    assert reply.certificate_pem == on_disk
    certificate = x509.load_pem_x509_certificate(on_disk.encode())
    assert reply.fingerprint_sha256 == certificate.fingerprint(hashes.SHA256()).hex(":").upper()


def test_crl_is_open_and_signed_by_the_ca(ca, cloud, controller, tmp_path):
    pki = NodePKI(new_host(), tmp_path / "pki")
    serial = enroll(ca, cloud, pki).certificate.serial_number
    ca.RevokeCertificate(
        pb.RevokeCertificateRequest(serial_number=serial, reason="lost"), metadata=cloud.admin
    )
    reply = ca.GetCRL(pb.GetCRLRequest())
    crl = x509.load_der_x509_crl(reply.crl_der)
    assert x509.load_pem_x509_crl(reply.crl_pem.encode()) == crl
    authority = controller.app.ca.authority.certificate
    assert crl.is_signature_valid(authority.public_key())
    assert crl.get_revoked_certificate_by_serial_number(int(serial, 16)) is not None


# -- enrollment tokens ----------------------------------------------------------------------


def test_enrollment_token_is_admin_only(ca, cloud):
    member = cloud.tenant("member")
    with raises(grpc.StatusCode.PERMISSION_DENIED):
        ca.CreateEnrollmentToken(
            pb.CreateEnrollmentTokenRequest(host_name=new_host()), metadata=member.metadata
        )
    with raises(grpc.StatusCode.UNAUTHENTICATED):
        ca.CreateEnrollmentToken(pb.CreateEnrollmentTokenRequest(host_name=new_host()))


def test_enrollment_token_reply_and_storage(ca, cloud, controller):
    host = new_host()
    reply = ca.CreateEnrollmentToken(
        pb.CreateEnrollmentTokenRequest(
            host_name=host.upper(), ttl=duration_pb2.Duration(seconds=600)
        ),
        metadata=cloud.admin,
    )
    assert reply.host_name == host and len(reply.token) >= 43
    life = reply.expire_time.ToDatetime() - reply.create_time.ToDatetime()
    assert life == datetime.timedelta(seconds=600)
    stored = controller.app.db.call(
        controller.app.ca.repository.find_enrollment_token,
        hashlib.sha256(reply.token.encode()).hexdigest(),
    )
    assert stored.id == reply.id and reply.token not in repr(stored)


@pytest.mark.parametrize(
    "request_fields, field",
    [
        ({"host_name": ""}, "host_name"),
        ({"host_name": "not a host"}, "host_name"),
        ({"host_name": "node-x", "ttl": duration_pb2.Duration(seconds=8 * 86400)}, "ttl"),
        ({"host_name": "node-x", "ttl": duration_pb2.Duration(seconds=-5)}, "ttl"),
    ],
)
def test_enrollment_token_bad_input(ca, cloud, request_fields, field):
    with raises(grpc.StatusCode.INVALID_ARGUMENT, field=field):
        ca.CreateEnrollmentToken(
            pb.CreateEnrollmentTokenRequest(**request_fields), metadata=cloud.admin
        )


# -- enrollment ------------------------------------------------------------------------------


def test_enrollment_issues_a_client_certificate_for_the_host(ca, cloud, controller, tmp_path):
    pki = NodePKI(new_host(), tmp_path / "pki")
    reply = enroll(ca, cloud, pki)
    assert reply.certificate.host_name == pki.host_name
    assert reply.certificate.status == pb.CERTIFICATE_STATUS_ACTIVE
    assert reply.certificate.kind == pb.CERTIFICATE_KIND_CLIENT
    assert reply.ca_certificate_pem == controller.app.ca.authority.certificate_pem.decode()
    assert pki.certificate().serial_number == int(reply.certificate.serial_number, 16)


def test_a_reused_token_is_refused(ca, cloud, controller, tmp_path):
    host = new_host()
    secret = token_for(ca, cloud, host)
    ca.EnrollNode(pb.EnrollNodeRequest(token=secret, csr_pem=make_csr(host).decode()))
    with raises(grpc.StatusCode.UNAUTHENTICATED, reason="ENROLLMENT_TOKEN_USED"):
        ca.EnrollNode(pb.EnrollNodeRequest(token=secret, csr_pem=make_csr(host).decode()))
    assert len(certificates_of(controller, host)) == 1


@pytest.mark.parametrize("secret", ["", "forged-" + "x" * 40])
def test_a_forged_token_is_refused(ca, controller, secret):
    host = new_host()
    with raises(grpc.StatusCode.UNAUTHENTICATED, reason="ENROLLMENT_TOKEN_INVALID"):
        ca.EnrollNode(pb.EnrollNodeRequest(token=secret, csr_pem=make_csr(host).decode()))
    assert certificates_of(controller, host) == []


def test_an_expired_token_is_refused(ca, controller):
    host, secret = new_host(), "expired-" + uuid.uuid4().hex
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=2)
    controller.app.db.call(
        controller.app.ca.repository.add_enrollment_token,
        EnrollmentToken(
            id=str(uuid.uuid4()),
            token_hash=hashlib.sha256(secret.encode()).hexdigest(),
            host_name=host,
            created_at=past,
            expires_at=past + datetime.timedelta(hours=1),
        ),
    )
    with raises(grpc.StatusCode.UNAUTHENTICATED, reason="ENROLLMENT_TOKEN_EXPIRED"):
        ca.EnrollNode(pb.EnrollNodeRequest(token=secret, csr_pem=make_csr(host).decode()))
    assert certificates_of(controller, host) == []


def test_a_token_for_another_host_is_refused(ca, cloud, controller):
    host, other = new_host(), new_host()
    secret = token_for(ca, cloud, host)
    with raises(grpc.StatusCode.PERMISSION_DENIED, reason="ENROLLMENT_TOKEN_HOST_MISMATCH"):
        ca.EnrollNode(pb.EnrollNodeRequest(token=secret, csr_pem=make_csr(other).decode()))
    assert certificates_of(controller, other) == []
    # The token was not burnt by the refusal: its own host can still enroll with it.
    ca.EnrollNode(pb.EnrollNodeRequest(token=secret, csr_pem=make_csr(host).decode()))


@pytest.mark.parametrize(
    "bad_csr, reason",
    [
        (lambda h: make_csr(h, sans=[x509.DNSName(h), x509.DNSName("controller")]), "CSR_BAD_SAN"),
        (lambda h: make_csr(h, ca=True), "CSR_REQUESTS_CA"),
        (lambda h: make_csr(h, key=rsa_key(1024)), "CSR_WEAK_KEY"),
        (lambda h: tampered(make_csr(h), h.encode(), h[:-1].encode() + b"_"), "CSR_BAD_SIGNATURE"),
        (lambda h: b"garbage", "CSR_MALFORMED"),
    ],
    ids=["extra-san", "ca", "rsa-1024", "bad-signature", "garbage"],
)
def test_bad_csrs_are_refused_and_the_token_kept(ca, cloud, controller, bad_csr, reason):
    host = new_host()
    secret = token_for(ca, cloud, host)
    with raises(grpc.StatusCode.INVALID_ARGUMENT, reason=reason, field="csr_pem"):
        ca.EnrollNode(pb.EnrollNodeRequest(token=secret, csr_pem=bad_csr(host).decode()))
    assert certificates_of(controller, host) == []
    ca.EnrollNode(pb.EnrollNodeRequest(token=secret, csr_pem=make_csr(host).decode()))


# -- admin views and revocation ---------------------------------------------------------------


def test_certificates_are_admin_only(ca, cloud):
    reader = cloud.tenant("reader")
    with raises(grpc.StatusCode.PERMISSION_DENIED):
        ca.ListCertificates(pb.ListCertificatesRequest(), metadata=reader.metadata)
    with raises(grpc.StatusCode.PERMISSION_DENIED):
        ca.RevokeCertificate(
            pb.RevokeCertificateRequest(serial_number="ab"), metadata=reader.metadata
        )


def test_list_pages_and_filters(ca, cloud, tmp_path):
    host = new_host()
    serials = [
        ca.EnrollNode(
            pb.EnrollNodeRequest(token=token_for(ca, cloud, host), csr_pem=make_csr(host).decode())
        ).certificate.serial_number
        for _ in range(3)
    ]
    first = ca.ListCertificates(
        pb.ListCertificatesRequest(host_name=host, page_size=2), metadata=cloud.admin
    )
    assert len(first.certificates) == 2 and first.next_page_token
    rest = ca.ListCertificates(
        pb.ListCertificatesRequest(host_name=host, page_size=2, page_token=first.next_page_token),
        metadata=cloud.admin,
    )
    assert not rest.next_page_token
    listed = [c.serial_number for c in [*first.certificates, *rest.certificates]]
    assert sorted(listed) == sorted(serials)
    ca.RevokeCertificate(
        pb.RevokeCertificateRequest(serial_number=serials[0]), metadata=cloud.admin
    )
    revoked = ca.ListCertificates(
        pb.ListCertificatesRequest(host_name=host, status=pb.CERTIFICATE_STATUS_REVOKED),
        metadata=cloud.admin,
    )
    assert [c.serial_number for c in revoked.certificates] == [serials[0]]
    with raises(grpc.StatusCode.INVALID_ARGUMENT, field="page_token"):
        ca.ListCertificates(
            pb.ListCertificatesRequest(host_name=new_host(), page_token=first.next_page_token),
            metadata=cloud.admin,
        )
    with raises(grpc.StatusCode.INVALID_ARGUMENT, field="page_size"):
        ca.ListCertificates(pb.ListCertificatesRequest(page_size=-1), metadata=cloud.admin)


def test_get_and_revoke_by_serial(ca, cloud, tmp_path):
    pki = NodePKI(new_host(), tmp_path / "pki")
    serial = enroll(ca, cloud, pki).certificate.serial_number
    got = ca.GetCertificate(
        pb.GetCertificateRequest(serial_number=serial.upper()), metadata=cloud.admin
    )
    assert got.serial_number == serial and got.host_name == pki.host_name
    revoked = ca.RevokeCertificate(
        pb.RevokeCertificateRequest(serial_number=serial, reason="decommissioned"),
        metadata=cloud.admin,
    )
    assert revoked.status == pb.CERTIFICATE_STATUS_REVOKED
    assert revoked.revocation_reason == "decommissioned" and revoked.HasField("revoke_time")
    with raises(grpc.StatusCode.NOT_FOUND, reason="CERTIFICATE_NOT_FOUND"):
        ca.GetCertificate(pb.GetCertificateRequest(serial_number="abc123"), metadata=cloud.admin)
    with raises(grpc.StatusCode.INVALID_ARGUMENT, field="serial_number"):
        ca.RevokeCertificate(
            pb.RevokeCertificateRequest(serial_number="not-hex"), metadata=cloud.admin
        )


# -- the node listener -------------------------------------------------------------------------


def test_renewal_over_the_node_listener(ca, cloud, controller, tmp_path):
    pki = NodePKI(new_host(), tmp_path / "pki")
    old = enroll(ca, cloud, pki).certificate
    with node_channel(controller, pki) as channel:
        node = pb_grpc.NodeCertificateServiceStub(channel)
        reply = node.RenewCertificate(pb.RenewCertificateRequest(csr_pem=pki.new_csr().decode()))
        assert reply.certificate.renewed_from == old.serial_number
        pki.install(reply.certificate.certificate_pem.encode())
        # A CSR for another host over this identity is refused, and nothing is issued.
        with raises(grpc.StatusCode.PERMISSION_DENIED, reason="RENEWAL_HOST_MISMATCH"):
            node.RenewCertificate(
                pb.RenewCertificateRequest(csr_pem=make_csr("someone-else").decode())
            )
    with node_channel(controller, pki) as channel:  # the renewed certificate connects
        pb_grpc.NodeCertificateServiceStub(channel).RenewCertificate(
            pb.RenewCertificateRequest(csr_pem=pki.new_csr().decode())
        )
    assert certificates_of(controller, "someone-else") == []


def test_node_listener_refuses_plain_text_no_certificate_and_revoked(
    ca, cloud, controller, tmp_path
):
    pki = NodePKI(new_host(), tmp_path / "pki")
    serial = enroll(ca, cloud, pki).certificate.serial_number
    address = f"127.0.0.1:{controller.app.node_listener.port}"
    request = pb.RenewCertificateRequest(csr_pem=pki.new_csr().decode())
    with grpc.insecure_channel(address) as channel, raises(grpc.StatusCode.UNAVAILABLE):
        pb_grpc.NodeCertificateServiceStub(channel).RenewCertificate(request, timeout=10)
    ca_only = grpc.ssl_channel_credentials(controller.app.ca.authority.certificate_pem)
    with grpc.secure_channel(address, ca_only) as channel, raises(grpc.StatusCode.UNAVAILABLE):
        pb_grpc.NodeCertificateServiceStub(channel).RenewCertificate(request, timeout=10)
    ca.RevokeCertificate(pb.RevokeCertificateRequest(serial_number=serial), metadata=cloud.admin)
    with node_channel(controller, pki) as channel, raises(grpc.StatusCode.UNAUTHENTICATED):
        pb_grpc.NodeCertificateServiceStub(channel).RenewCertificate(request, timeout=10)
    assert len(certificates_of(controller, pki.host_name)) == 1


def test_node_listener_is_not_on_the_public_listener(cloud):
    stub = pb_grpc.NodeCertificateServiceStub(cloud.channel)
    with raises(grpc.StatusCode.UNIMPLEMENTED):
        stub.RenewCertificate(pb.RenewCertificateRequest(csr_pem="x"))


def test_the_node_listener_certificate_is_in_the_inventory(ca, cloud):
    listed = ca.ListCertificates(
        pb.ListCertificatesRequest(host_name="node-listener"), metadata=cloud.admin
    ).certificates
    assert listed and all(c.kind == pb.CERTIFICATE_KIND_SERVER for c in listed)
    with raises(grpc.StatusCode.FAILED_PRECONDITION, reason="CERTIFICATE_NOT_REVOCABLE"):
        ca.RevokeCertificate(
            pb.RevokeCertificateRequest(serial_number=listed[-1].serial_number),
            metadata=cloud.admin,
        )


def test_concurrent_enrollments_with_one_token_issue_one_certificate(ca, cloud, controller):
    host = new_host()
    secret = token_for(ca, cloud, host)
    outcomes = []

    def attempt():
        try:
            ca.EnrollNode(pb.EnrollNodeRequest(token=secret, csr_pem=make_csr(host).decode()))
            outcomes.append("ok")
        except grpc.RpcError as error:
            outcomes.append(error.code())

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(map(str, outcomes)) == sorted(["ok"] + [str(grpc.StatusCode.UNAUTHENTICATED)] * 5)
    assert len(certificates_of(controller, host)) == 1
