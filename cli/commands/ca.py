"""Certificate authority commands: the CA certificate, node certificates, revocation."""

from cli import resources
from cli.registry import arg, command, group
from stratus.ca.v1 import ca_service_pb2 as pb
from stratus.ca.v1 import ca_service_pb2_grpc as pb_grpc

group("ca", "the controller's certificate authority")
group("ca cert", "certificates the CA issued")
group("ca crl", "the certificate revocation list")

STATUS = pb.CertificateStatus.DESCRIPTOR


def ca(ctx) -> pb_grpc.CertificateAuthorityServiceStub:
    return ctx.session.stub(pb_grpc.CertificateAuthorityServiceStub)


def write_pem(ctx, pem: str) -> None:
    ctx.stdout.write(pem if pem.endswith("\n") else pem + "\n")


def show_cert(cert):
    return resources.show(cert, drop=["certificate_pem"])


CERT_COLUMNS = resources.Columns(
    [
        ("Serial Number", "serial_number"),
        ("Kind", "kind"),
        ("Host", "host_name"),
        ("Status", "status"),
        ("Expires", "not_after_time"),
    ],
    long=[
        ("Fingerprint", "fingerprint_sha256"),
        ("Revoked", "revoke_time"),
        ("Reason", "revocation_reason"),
        ("Renewed From", "renewed_from"),
    ],
)


@command(
    "ca show",
    help="show the CA certificate (no token needed)",
    output="show",
    columns=resources.fields_of(show_cert, pb.CACertificate),
)
@arg(
    "--pem",
    action="store_true",
    help="print only the certificate, PEM-encoded (e.g. to use as STRATUS_CACERT)",
)
def ca_show(ctx, args):
    cert = ctx.session.call(
        ca(ctx).GetCACertificate, pb.GetCACertificateRequest(), authenticated=False
    )
    if args.pem:
        write_pem(ctx, cert.certificate_pem)
        return None
    return show_cert(cert)


@command(
    "ca cert list",
    help="list the certificates the CA issued (admins)",
    output="list",
    columns=CERT_COLUMNS.headings,
)
@arg("--host", default="", help="only this host's")
@arg("--status", choices=resources.enum_choices(STATUS), help="only those in this status")
@arg("--long", action="store_true", help="list more columns")
def ca_cert_list(ctx, args):
    request = pb.ListCertificatesRequest(host_name=args.host)
    if args.status:
        request.status = resources.enum_number(STATUS, args.status)
    return resources.listing(
        ctx.session.paged(ca(ctx).ListCertificates, request, "certificates"),
        CERT_COLUMNS.chosen(args),
    )


@command(
    "ca cert show",
    help="show an issued certificate (admins)",
    output="show",
    columns=resources.fields_of(show_cert, pb.Certificate),
)
@arg("serial_number", help="the certificate's serial number")
@arg("--pem", action="store_true", help="print only the certificate, PEM-encoded")
def ca_cert_show(ctx, args):
    cert = ctx.session.call(
        ca(ctx).GetCertificate, pb.GetCertificateRequest(serial_number=args.serial_number)
    )
    if args.pem:
        write_pem(ctx, cert.certificate_pem)
        return None
    return show_cert(cert)


@command(
    "ca cert revoke",
    help="revoke a node's certificate (admins)",
    output="show",
    columns=resources.fields_of(show_cert, pb.Certificate),
)
@arg("serial_number", help="the certificate's serial number")
@arg("--reason", default="", help="why, kept with the revocation")
def ca_cert_revoke(ctx, args):
    cert = ctx.session.call(
        ca(ctx).RevokeCertificate,
        pb.RevokeCertificateRequest(serial_number=args.serial_number, reason=args.reason),
    )
    return show_cert(cert)


@command("ca crl show", help="print the certificate revocation list, PEM-encoded")
def ca_crl_show(ctx, args):
    crl = ctx.session.call(ca(ctx).GetCRL, pb.GetCRLRequest(), authenticated=False)
    write_pem(ctx, crl.crl_pem)
