import datetime
import stat

from cryptography import x509

from controller.ca.authority import CertificateAuthority
from controller.ca.server_cert import NODE_LISTENER, ListenerCertificate, ensure_server_certificate
from tests.unit.ca.ca_fixtures import T0


def sans(pair):
    ext = pair.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return (
        sorted(ext.value.get_values_for_type(x509.DNSName)),
        sorted(map(str, ext.value.get_values_for_type(x509.IPAddress))),
    )


def test_issued_once_then_reused(authority, tmp_path):
    first, issued = ensure_server_certificate(
        authority,
        tmp_path / "ca",
        NODE_LISTENER,
        dns_names=["ctl.example"],
        ip_addresses=["10.0.0.1", "::1"],
        now=T0,
    )
    assert issued and sans(first) == (["ctl.example"], ["10.0.0.1", "::1"])
    assert stat.S_IMODE((tmp_path / "ca" / f"{NODE_LISTENER}.key").stat().st_mode) == 0o600
    again, issued = ensure_server_certificate(
        authority,
        tmp_path / "ca",
        NODE_LISTENER,
        dns_names=["CTL.example"],
        ip_addresses=["::1", "10.0.0.1"],
        now=T0 + datetime.timedelta(days=1),
    )
    assert not issued and again == first


def test_reissued_when_names_change_renewal_is_due_or_the_ca_changed(authority, tmp_path):
    def ensure(ca=authority, names=("ctl",), now=T0):
        return ensure_server_certificate(
            ca, tmp_path / "ca", "public-listener", dns_names=names, now=now
        )

    _first, _ = ensure()
    renamed, issued = ensure(names=("ctl", "ctl2"))
    assert issued and sans(renamed)[0] == ["ctl", "ctl2"]
    _not_yet, issued = ensure(names=("ctl", "ctl2"), now=T0 + datetime.timedelta(days=240))
    assert not issued
    due, issued = ensure(names=("ctl", "ctl2"), now=T0 + datetime.timedelta(days=250))
    assert issued and due.certificate.not_valid_before_utc > T0
    other = CertificateAuthority.create(tmp_path / "other", now=T0)
    moved, issued = ensure(ca=other, names=("ctl", "ctl2"), now=T0 + datetime.timedelta(days=251))
    assert issued and other.issued(moved.certificate)


def test_listener_certificate_refresh_reports_changes(authority, tmp_path, clock):
    listener = ListenerCertificate(
        authority, tmp_path / "ca", NODE_LISTENER, dns_names=["ctl"], clock=clock
    )
    key_pem, cert_pem = listener.pair()
    assert b"PRIVATE KEY" in key_pem and listener.refresh() is False
    clock.advance(days=300)
    assert listener.refresh() is True and listener.pair()[1] != cert_pem
