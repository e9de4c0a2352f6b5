import datetime
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from controller.ca.authority import CA_KEY_FILE, CertificateAuthority, RevokedEntry
from stratus_common import keys
from stratus_common.errors import AlreadyExists, FailedPrecondition
from tests.unit.ca.ca_fixtures import T0


def ext(certificate, kind):
    return certificate.extensions.get_extension_for_class(kind)


def test_root_ca_is_a_self_signed_critical_ca(authority, tmp_path):
    cert = authority.certificate
    constraints = ext(cert, x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = ext(cert, x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature
    ski = ext(cert, x509.SubjectKeyIdentifier).value
    assert ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier == ski.digest
    cert.verify_directly_issued_by(cert)
    assert cert.not_valid_after_utc - cert.not_valid_before_utc > datetime.timedelta(days=3000)
    assert stat.S_IMODE((tmp_path / "ca" / CA_KEY_FILE).stat().st_mode) == 0o600


def test_rsa_3072_ca(tmp_path):
    ca = CertificateAuthority.create(tmp_path / "rsa", now=T0, algorithm=keys.KeyAlgorithm.RSA_3072)
    assert isinstance(ca.certificate.public_key(), rsa.RSAPublicKey)
    assert ca.certificate.public_key().key_size == 3072


def test_create_refuses_to_overwrite_without_force(authority, tmp_path):
    before = (tmp_path / "ca" / CA_KEY_FILE).read_bytes()
    with pytest.raises(AlreadyExists):
        CertificateAuthority.create(tmp_path / "ca", now=T0)
    assert (tmp_path / "ca" / CA_KEY_FILE).read_bytes() == before
    replaced = CertificateAuthority.create(tmp_path / "ca", now=T0, force=True)
    assert (tmp_path / "ca" / CA_KEY_FILE).read_bytes() != before
    assert replaced.certificate != authority.certificate


def test_load_round_trips(authority, tmp_path):
    loaded = CertificateAuthority.load(tmp_path / "ca")
    assert loaded.certificate == authority.certificate
    key = keys.generate_private_key()
    issued = loaded.sign_client_certificate(key.public_key(), "node-1", now=T0)
    assert authority.issued(issued)


def test_load_refuses_missing_exposed_or_mismatched_files(authority, tmp_path):
    with pytest.raises(FailedPrecondition):
        CertificateAuthority.load(tmp_path / "nothing-here")
    key_path = tmp_path / "ca" / CA_KEY_FILE
    key_path.chmod(0o644)
    with pytest.raises(FailedPrecondition) as caught:
        CertificateAuthority.load(tmp_path / "ca")
    assert caught.value.reason == "CA_KEY_EXPOSED"
    key_path.chmod(0o600)
    keys.write_private_key(key_path, keys.generate_private_key())
    with pytest.raises(FailedPrecondition) as caught:
        CertificateAuthority.load(tmp_path / "ca")
    assert caught.value.reason == "CA_KEY_MISMATCH"


def test_repr_never_shows_the_key(authority):
    pem = keys.private_key_pem(authority._key).decode()
    assert pem.splitlines()[1] not in repr(authority)


def test_client_certificate(authority):
    key = keys.generate_private_key()
    cert = authority.sign_client_certificate(key.public_key(), "node-1", now=T0)
    cert.verify_directly_issued_by(authority.certificate)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "node-1"
    assert ext(cert, x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName) == [
        "node-1"
    ]
    assert list(ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert ext(cert, x509.BasicConstraints).value.ca is False
    assert cert.not_valid_after_utc == T0 + datetime.timedelta(days=30)
    assert cert.not_valid_before_utc < T0  # tolerates a lagging peer clock
    assert (
        ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier
        == ext(authority.certificate, x509.SubjectKeyIdentifier).value.digest
    )


def test_client_serials_are_random_128_bit(authority):
    key = keys.generate_private_key().public_key()
    serials = {authority.sign_client_certificate(key, "n", now=T0).serial_number for _ in range(20)}
    assert len(serials) == 20 and all(0 < s < 2**128 for s in serials)
    assert max(serials).bit_length() > 100  # random, not a counter


def test_client_certificate_refuses_a_weak_key(authority):
    from tests.unit.ca.ca_fixtures import rsa_key

    with pytest.raises(keys.WeakKeyError):
        authority.sign_client_certificate(rsa_key(1024).public_key(), "n", now=T0)


def test_leaf_never_outlives_the_ca(authority):
    late = authority.certificate.not_valid_after_utc - datetime.timedelta(days=1)
    cert = authority.sign_client_certificate(
        keys.generate_private_key().public_key(), "n", now=late
    )
    assert cert.not_valid_after_utc == authority.certificate.not_valid_after_utc


def test_server_certificate(authority):
    key, cert = authority.issue_server_certificate(
        dns_names=["controller.example", "localhost"], ip_addresses=["127.0.0.1", "::1"], now=T0
    )
    sans = ext(cert, x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["controller.example", "localhost"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    assert list(ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert keys.public_key_der(key.public_key()) == keys.public_key_der(cert.public_key())
    with pytest.raises(FailedPrecondition):
        authority.issue_server_certificate(now=T0)


def test_crl_pem_and_der_signed_by_the_ca(authority):
    crl = authority.build_crl([RevokedEntry(0xABC, T0), RevokedEntry(0xDEF, T0)], now=T0)
    assert crl.is_signature_valid(authority.certificate.public_key())
    assert {r.serial_number for r in crl} == {0xABC, 0xDEF}
    assert crl.get_revoked_certificate_by_serial_number(0xABC).revocation_date_utc == T0
    from cryptography.hazmat.primitives import serialization

    der = crl.public_bytes(serialization.Encoding.DER)
    assert x509.load_der_x509_crl(der) == x509.load_pem_x509_crl(
        crl.public_bytes(serialization.Encoding.PEM)
    )
    later = authority.build_crl([], now=T0 + datetime.timedelta(seconds=1))

    def number(c):
        return c.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number

    assert number(later) > number(crl)


def test_issued_tells_our_certificates_from_others(authority, tmp_path):
    other = CertificateAuthority.create(tmp_path / "other", now=T0)
    key = keys.generate_private_key().public_key()
    assert authority.issued(authority.sign_client_certificate(key, "n", now=T0))
    assert not authority.issued(other.sign_client_certificate(key, "n", now=T0))
