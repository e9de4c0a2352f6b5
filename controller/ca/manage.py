"""`stratus-manage ca ...` and `stratus-manage node enroll-token`."""

from __future__ import annotations

import datetime
import re

from controller.ca.authority import CA_VALIDITY, CertificateAuthority, fingerprint_sha256
from controller.ca.certificates import CertificateService, utcnow
from controller.ca.config import CASection
from controller.ca.db_repository import DatabaseCARepository
from controller.ca.server_cert import PUBLIC_LISTENER, ensure_server_certificate
from controller.ca.service import ca_directory, key_algorithm
from stratus_common import keys
from stratus_common.errors import AlreadyExists

_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> datetime.timedelta:
    """'90s', '30m', '1h', '2d' or plain seconds."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30m, 1h or 2d")
    return datetime.timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def _init(config, args):
    directory = ca_directory(config)
    try:
        authority = CertificateAuthority.create(
            directory,
            now=utcnow(),
            common_name=args.common_name,
            algorithm=key_algorithm(args.algorithm),
            validity=datetime.timedelta(days=args.days),
            force=args.force,
        )
    except AlreadyExists:
        raise AlreadyExists(
            f"a CA already exists in {directory}; --force replaces it, and "
            "then every node must enroll again",
            reason="CA_EXISTS",
        ) from None
    print(
        f"created CA {authority.certificate.subject.rfc4514_string()} in {directory}\n"
        f"fingerprint (SHA-256): {fingerprint_sha256(authority.certificate)}\n"
        f"valid until {authority.certificate.not_valid_after_utc:%Y-%m-%d}"
    )


def _show(config, args):
    authority = CertificateAuthority.load(ca_directory(config))
    certificate = authority.certificate
    print(
        f"subject: {certificate.subject.rfc4514_string()}\n"
        f"fingerprint (SHA-256): {fingerprint_sha256(certificate)}\n"
        f"valid: {certificate.not_valid_before_utc:%Y-%m-%d} to "
        f"{certificate.not_valid_after_utc:%Y-%m-%d}"
    )
    if args.pem:
        print(authority.certificate_pem.decode(), end="")


def _public_cert(config, args):
    directory = ca_directory(config)
    authority = CertificateAuthority.load(directory)
    pair, issued = ensure_server_certificate(
        authority,
        directory,
        PUBLIC_LISTENER,
        dns_names=args.dns_name,
        ip_addresses=args.ip_address,
        now=utcnow(),
    )
    state = "issued" if issued else "kept the current"
    print(
        f"{state} public listener certificate, valid until "
        f"{pair.certificate.not_valid_after_utc:%Y-%m-%d}\n"
        f"set in [controller]:\n"
        f'  tls_cert_file = "{directory / (PUBLIC_LISTENER + ".crt")}"\n'
        f'  tls_key_file = "{directory / (PUBLIC_LISTENER + ".key")}"\n'
        f"clients verify it with the CA: {directory / 'ca.crt'}"
    )


def _enroll_token(config, args):
    from controller.manage import open_database

    settings = config.section(CASection)
    authority = CertificateAuthority.load(ca_directory(config))
    db = open_database(config)
    try:
        service = CertificateService(
            authority,
            DatabaseCARepository(db),
            max_token_ttl=datetime.timedelta(seconds=settings.enrollment_token_max_seconds),
        )
        token, secret = db.call(
            service.create_enrollment_token, args.host, parse_duration(args.ttl)
        )
    finally:
        db.close()
    # The secret goes to standard output only, once; it is stored nowhere in plain text.
    print(
        f"enrollment token for {token.host_name} (one use, expires "
        f"{token.expires_at:%Y-%m-%d %H:%M:%S} UTC):\n{secret}\n"
        f"CA fingerprint (SHA-256): {fingerprint_sha256(authority.certificate)}"
    )


def add_commands(commands):
    ca = commands.add_parser("ca", help="the certificate authority").add_subparsers(
        dest="ca_command", required=True
    )
    init = ca.add_parser("init", help="create the root CA (refuses to replace one)")
    init.add_argument(
        "--algorithm",
        default=keys.KeyAlgorithm.EC_P256.value,
        choices=[a.value for a in keys.KeyAlgorithm],
    )
    init.add_argument("--common-name", default="Stratus CA")
    init.add_argument("--days", type=int, default=CA_VALIDITY.days)
    init.add_argument(
        "--force", action="store_true", help="replace an existing CA: every node must enroll again"
    )
    init.set_defaults(run=_init)
    show = ca.add_parser("show", help="the CA's subject, fingerprint and validity")
    show.add_argument("--pem", action="store_true", help="also print the CA certificate")
    show.set_defaults(run=_show)
    public = ca.add_parser(
        "public-cert", help="issue the public listener's TLS certificate from the CA"
    )
    public.add_argument(
        "--dns-name", action="append", default=[], help="a host name clients use (repeatable)"
    )
    public.add_argument(
        "--ip-address", action="append", default=[], help="an IP address clients use (repeatable)"
    )
    public.set_defaults(run=_public_cert)

    node = commands.add_parser("node", help="compute nodes").add_subparsers(
        dest="node_command", required=True
    )
    token = node.add_parser("enroll-token", help="a one-time token for a node to enroll")
    token.add_argument("host", help="the node's host name, as in its certificate")
    token.add_argument("--ttl", default="1h", help="how long the token stays usable (1h)")
    token.set_defaults(run=_enroll_token)
