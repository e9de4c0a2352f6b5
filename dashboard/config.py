"""[dashboard] configuration: a TOML file, then STRATUS_DASHBOARD_<KEY> environment overrides,
loaded as the controller loads its own."""

from __future__ import annotations

import dataclasses
import os
import typing
from pathlib import Path

from stratus_common.config import ConfigError, build_section, read_toml

DEFAULT_PATH = Path("/etc/stratus/dashboard.toml")


@dataclasses.dataclass
class DashboardSection:
    section: typing.ClassVar[str] = "dashboard"
    # Where the dashboard serves HTTP(S); port 0 picks a free one (printed at start).
    listen: str = "127.0.0.1:8080"
    # The controller's public API: grpc://host:port, or grpcs://host:port for TLS.
    controller: str = "grpc://127.0.0.1:5000"
    # CA bundle that signed the controller's public certificate (grpcs:// only; empty: system).
    controller_ca_file: str = ""
    # HTTPS for the dashboard itself; empty serves plain HTTP (loopback or behind a proxy
    # that terminates TLS). With TLS, cookies carry the Secure flag.
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # Mark cookies Secure even on plain HTTP (set it behind a TLS-terminating proxy).
    secure_cookies: bool = False
    # Idle sessions end after this many seconds; a session never outlives its token.
    session_idle_seconds: int = 3600
    # File holding the key that signs CSRF tokens; created (0600) when missing.
    secret_key_file: str = "/var/lib/stratus/dashboard-secret"
    # "en" or "zh_CN": the language before a user picks one.
    default_language: str = "en"
    # The console proxy's origin (scheme://host:port) the server page may embed; empty: the
    # origin of the console URL the controller returns. A URL elsewhere is not embedded.
    console_origin: str = ""
    # Rows on one page of a list.
    page_size: int = 20
    log_level: str = "info"


def load(path: Path | None = None, env: typing.Mapping[str, str] | None = None) -> DashboardSection:
    explicit = path is not None
    file = path or DEFAULT_PATH
    tables = read_toml(file, explicit)
    unknown = set(tables) - {DashboardSection.section}
    if unknown:
        raise ConfigError(f"{file}: unknown section(s): {', '.join(sorted(unknown))}")
    section: DashboardSection = build_section(
        DashboardSection,
        DashboardSection.section,
        tables.get(DashboardSection.section, {}),
        str(file),
        os.environ if env is None else env,
    )
    return section
