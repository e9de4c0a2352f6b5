"""When a certificate should be renewed: at two thirds of its life, as ACME clients do.

Renewing at 2/3 leaves a third of the life (10 days of a 30-day certificate) to retry
through a controller outage before the old certificate expires.
"""

import datetime

from cryptography import x509

RENEW_AT_FRACTION = 2 / 3


def renewal_time(
    certificate: x509.Certificate, fraction: float = RENEW_AT_FRACTION
) -> datetime.datetime:
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    return start + (end - start) * fraction


def renewal_due(
    certificate: x509.Certificate, now: datetime.datetime, fraction: float = RENEW_AT_FRACTION
) -> bool:
    return now >= renewal_time(certificate, fraction)


def remaining(certificate: x509.Certificate, now: datetime.datetime) -> datetime.timedelta:
    return certificate.not_valid_after_utc - now
