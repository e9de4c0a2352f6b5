"""[console]: console URLs and the console proxy (controller/console/)."""

from __future__ import annotations

import dataclasses
import typing


@dataclasses.dataclass
class ConsoleSection:
    section: typing.ClassVar[str] = "console"
    # Where the console proxy listens (host:port); empty: no proxy in this controller.
    listen: str = ""
    # What users' browsers reach the proxy as (http(s)://host:port); empty: from `listen`.
    base_url: str = ""
    # Seconds a console token stays valid (Nova's default).
    token_ttl: float = 600.0
    # Browser Origins accepted besides the proxy's own host name (Nova's allowed_origins).
    allowed_origins: list[str] = dataclasses.field(default_factory=list)
    # TLS on the proxy (wss:// and https://); both or neither.
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # Console connections the proxy holds at once (each node has its own limit too).
    max_connections: int = 200
    # A connection with no byte either way for this long is closed.
    idle_timeout: float = 900.0
    # Where the noVNC and spice-html5 libraries are (npm's @novnc/novnc, Debian's
    # spice-html5); empty: the first that exists of the usual places.
    novnc_dir: str = ""
    spice_html5_dir: str = ""

    def url_base(self) -> str:
        if self.base_url:
            return self.base_url.rstrip("/")
        scheme = "https" if self.tls_cert_file else "http"
        return f"{scheme}://{self.listen}"
