"""One CA for every controller replica, through the shared database (docs/adr/0013).

The CA key and certificate are one sealed secret ("ca"). At start a replica makes its CA
directory hold the database's CA; when the database holds none yet, the replica publishes
the CA of its directory (made by `stratus-manage ca init`, or by auto_init), and if another
replica published first, it takes that one instead. So replicas started together agree on
one CA, and the commands that read the directory (`ca show`, `ca public-cert`) keep working.
"""

from __future__ import annotations

import json
import logging
import pathlib
from collections.abc import Callable

from controller.ca.authority import CA_CERT_FILE, CA_KEY_FILE, CertificateAuthority
from controller.shared_secrets.store import SecretStore
from stratus_common import keys

LOG = logging.getLogger(__name__)
NAME = "ca"


def _encode(directory: pathlib.Path) -> bytes:
    return json.dumps(
        {
            "key": (directory / CA_KEY_FILE).read_text(),
            "certificate": (directory / CA_CERT_FILE).read_text(),
        }
    ).encode()


def _write(directory: pathlib.Path, value: bytes) -> None:
    """Put the database's CA into `directory` (only what differs is rewritten)."""
    pems = json.loads(value)
    directory = keys.ensure_private_directory(directory)
    for name, pem, mode in (
        (CA_KEY_FILE, pems["key"], 0o600),
        (CA_CERT_FILE, pems["certificate"], 0o644),
    ):
        path = directory / name
        if not path.exists() or path.read_text() != pem:
            keys.write_atomically(path, pem.encode(), mode)


def shared_authority(
    store: SecretStore,
    directory: pathlib.Path,
    local: Callable[[], CertificateAuthority],
) -> CertificateAuthority:
    """The replicas' one CA. `local()` loads (or creates) the CA of `directory`, called only
    when the database holds none. Runs inside a connection context."""
    secret = store.read(NAME)
    if secret is None:
        authority = local()
        if store.create(NAME, _encode(directory)):
            LOG.info("published this replica's CA to the shared database")
            return authority
        secret = store.read(NAME)  # another replica published first: take its CA
    _write(directory, secret.value)
    return CertificateAuthority.load(directory)
