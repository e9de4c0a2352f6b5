import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from controller.ca.csr import validate_csr
from stratus_common.errors import InvalidArgument
from tests.unit.ca.ca_fixtures import make_csr, rsa_key, tampered


def refused(pem) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        validate_csr(pem)
    assert caught.value.violations[0].field == "csr_pem"
    return caught.value


def test_a_well_formed_csr_yields_its_host_and_key():
    key = ec.generate_private_key(ec.SECP384R1())
    valid = validate_csr(make_csr("Node-1.Example", key=key, sans=[x509.DNSName("node-1.example")]))
    assert valid.host_name == "node-1.example"
    assert valid.public_key.public_numbers() == key.public_key().public_numbers()


def test_rsa_2048_is_accepted():
    assert validate_csr(make_csr(key=rsa_key(2048))).host_name == "node-1"


@pytest.mark.parametrize(
    "sans",
    [
        [x509.DNSName("node-1"), x509.DNSName("controller")],
        [x509.DNSName("node-1"), x509.IPAddress(__import__("ipaddress").ip_address("10.0.0.1"))],
        [x509.DNSName("node-2")],
        [x509.UniformResourceIdentifier("spiffe://node-1")],
        [],
    ],
    ids=["extra-dns", "extra-ip", "other-host", "uri-only", "no-san"],
)
def test_sans_other_than_exactly_the_host_are_refused(sans):
    assert refused(make_csr("node-1", sans=sans)).reason == "CSR_BAD_SAN"


def test_a_request_for_a_ca_certificate_is_refused():
    assert refused(make_csr(ca=True)).reason == "CSR_REQUESTS_CA"


def test_a_non_ca_basic_constraint_is_harmless():
    assert validate_csr(make_csr(ca=False)).host_name == "node-1"


@pytest.mark.parametrize(
    "key",
    [
        rsa_key(1024),
        ec.generate_private_key(ec.SECP521R1()),
    ],
    ids=["rsa-1024", "p-521"],
)
def test_weak_keys_are_refused(key):
    assert refused(make_csr(key=key)).reason == "CSR_WEAK_KEY"


def test_ed25519_is_refused_as_unsupported():
    pem = make_csr(key=ed25519.Ed25519PrivateKey.generate(), digest=None)
    assert refused(pem).reason == "CSR_WEAK_KEY"


def test_a_bad_signature_is_refused():
    forged = tampered(make_csr("node-1"), b"node-1", b"node-9")
    assert refused(forged).reason == "CSR_BAD_SIGNATURE"


def test_extra_subject_attributes_are_refused():
    pem = make_csr(extra_subject=[x509.NameAttribute(NameOID.ORGANIZATION_NAME, "x")])
    assert refused(pem).reason == "CSR_BAD_SUBJECT"


def test_invalid_host_names_are_refused():
    error = refused(make_csr("bad_host!", sans=[x509.DNSName("bad_host!")]))
    assert error.reason == "INVALID_HOST_NAME"


@pytest.mark.parametrize(
    "pem",
    [
        b"",
        b"not a csr",
        (b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"),
        b"x" * 20000,
    ],
)
def test_garbage_is_refused(pem):
    assert refused(pem).reason == "CSR_MALFORMED"
