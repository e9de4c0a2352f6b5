"""stratus-compute's configuration: /etc/stratus/compute.toml, then command-line flags.

[compute]
host_name = "node1.example.org"     # default: this host's FQDN; must match its certificate
controller = "ctl.example.org:5001"  # the controller's node listener (mutual TLS)
# Controller replicas, instead of `controller`: streams fail over in this order
# (compute_node/failover.py).
controllers = ["ctl1.example.org:5001", "ctl2.example.org:5001"]
keepalive_seconds = 20               # HTTP/2 PING on the stream this often, and the stream is
keepalive_timeout_seconds = 10       # dead when one is not answered in this time
public_endpoint = "ctl.example.org:5000"  # the public listener, for enrollment only
state_dir = "/var/lib/stratus"       # pki/, images/ (cache), instances/, journal.db
availability_zone = "nova"
concurrency = 4                      # commands run at once
log_level = "info"
resume_guests_state_on_host_boot = false  # start guests that ran before the host stopped

[libvirt]
uri = "qemu:///system"               # or test:///default, test:///path/node.xml
network = "user"                     # user | none | bridge:<name>
domain_type = "auto"                 # auto (KVM when it really works, else QEMU TCG) | kvm | qemu
shutdown_timeout = 60

[console]
socket_dir = "/run/stratus-compute/consoles"  # guests' VNC/SPICE/serial UNIX sockets (short path)
max_channels = 100                   # console connections open at once on this node
window_bytes = 262144                # bytes the controller may send a channel unread

[image_cache]
max_unused_age = 86400               # seconds an image nobody uses is kept
prune_interval = 600

[network]                            # guests' ports, as the controller's NetworkState says
tunnel_ip = "192.0.2.11"             # underlay address for VXLAN; "" = no tenant networks here
physical_network_mappings = { provider = "eth1" }  # provider network -> interface or bridge
vxlan_port = 4789
reconcile_interval = 10              # seconds between passes that re-plug taps

[metrics]
listen = ""                          # Prometheus endpoint, e.g. "127.0.0.1:9101"; "" = off
"""

from __future__ import annotations

import dataclasses
import os
import socket
from pathlib import Path

from stratus_common import metrics_endpoint
from stratus_common.config import ConfigError, build_section, read_toml

DEFAULT_PATH = Path("/etc/stratus/compute.toml")


@dataclasses.dataclass
class ComputeConfig:
    host_name: str = ""
    controller: str = "127.0.0.1:5001"
    controllers: list[str] = dataclasses.field(default_factory=list)
    keepalive_seconds: float = 20.0
    keepalive_timeout_seconds: float = 10.0
    public_endpoint: str = "127.0.0.1:5000"
    state_dir: str = "/var/lib/stratus"
    availability_zone: str = "nova"
    concurrency: int = 4
    log_level: str = "info"
    max_message_bytes: int = 4 * 1024 * 1024
    ca_fingerprint: str = ""
    resume_guests_state_on_host_boot: bool = False


@dataclasses.dataclass
class LibvirtSection:
    uri: str = "qemu:///system"
    network: str = "user"
    domain_type: str = "auto"
    shutdown_timeout: float = 60.0


@dataclasses.dataclass
class ImageCacheSection:
    max_unused_age: float = 86400.0
    prune_interval: float = 600.0


# A UNIX socket's path has at most 107 bytes; a guest's longest is <socket_dir>/<uuid>.serial.
MAX_SOCKET_DIR = 107 - len("/12345678-1234-1234-1234-123456789012.serial")


@dataclasses.dataclass
class ConsoleSection:
    socket_dir: str = "/run/stratus-compute/consoles"
    max_channels: int = 100
    window_bytes: int = 256 * 1024

    def __post_init__(self):
        if len(os.fsencode(self.socket_dir)) > MAX_SOCKET_DIR:
            raise ConfigError(
                f"[console] socket_dir is longer than {MAX_SOCKET_DIR} bytes: guests' console "
                "sockets would not fit a UNIX socket's path; choose a shorter one"
            )


@dataclasses.dataclass
class NetworkSection:
    tunnel_ip: str = ""
    physical_network_mappings: dict[str, str] = dataclasses.field(default_factory=dict)
    vxlan_port: int = 4789
    reconcile_interval: float = 10.0


@dataclasses.dataclass
class MetricsSection:
    listen: str = ""

    def __post_init__(self):
        metrics_endpoint.check_listen(self.listen)


@dataclasses.dataclass
class Config:
    compute: ComputeConfig
    libvirt: LibvirtSection
    image_cache: ImageCacheSection
    console: ConsoleSection
    network: NetworkSection
    metrics: MetricsSection

    @property
    def controller_addresses(self) -> list[str]:
        return self.compute.controllers or [self.compute.controller]

    @property
    def host_name(self) -> str:
        return (self.compute.host_name or socket.getfqdn()).lower()

    def path(self, *parts: str) -> str:
        return os.path.join(self.compute.state_dir, *parts)


_SECTIONS = {
    "compute": ComputeConfig,
    "libvirt": LibvirtSection,
    "image_cache": ImageCacheSection,
    "console": ConsoleSection,
    "network": NetworkSection,
    "metrics": MetricsSection,
}


def load(path: Path | None = None, overrides: dict | None = None) -> Config:
    """The file (missing is fine only when no path was given), then `overrides`
    ({"compute": {...}, "libvirt": {...}}) from flags. Read as the controller reads its own
    (controller.config), without environment overrides: the controller owns STRATUS_*."""
    target = path or DEFAULT_PATH
    raw = read_toml(target, explicit=path is not None)
    unknown = sorted(set(raw) - set(_SECTIONS))
    if unknown:
        raise ConfigError(f"{target}: unknown section(s): {', '.join(unknown)}")
    for section, values in (overrides or {}).items():
        raw.setdefault(section, {}).update({k: v for k, v in values.items() if v is not None})
    return Config(
        **{
            name: build_section(cls, name, raw.get(name, {}), str(target))
            for name, cls in _SECTIONS.items()
        }
    )
