import dataclasses
import typing


@dataclasses.dataclass
class CASection:
    """[ca]: the certificate authority and the node listener."""

    section: typing.ClassVar[str] = "ca"
    # Directory of the CA key and certificate and of the listeners' key pairs;
    # empty = <state_dir>/ca. Replicas share one CA: copied, or through the database
    # ([shared_secrets] store = "database", controller/ca/shared.py).
    directory: str = ""
    # Create the CA at first start if the directory holds none (`stratus-manage ca init`
    # gives more choices). Turn off where replicas must never make a CA of their own.
    auto_init: bool = True
    # ec-p256 (default), ec-p384 or rsa-3072, for a CA made by auto_init.
    key_algorithm: str = "ec-p256"
    # Where compute nodes connect (mutual TLS only). Empty = the public listener's host with
    # its port + 1 (5001 beside 5000; port 0 stays 0).
    node_listen: str = ""
    # Names on the node listener's certificate; nodes must reach it by one of them.
    # Empty = this host's FQDN and localhost / 127.0.0.1 and ::1.
    node_listener_dns_names: list[str] = dataclasses.field(default_factory=list)
    node_listener_ip_addresses: list[str] = dataclasses.field(default_factory=list)
    # Life of a node's client certificate; nodes renew at two thirds of it.
    client_certificate_days: int = 30
    # Longest life an admin may give an enrollment token.
    enrollment_token_max_seconds: int = 7 * 86400
    # How often the node listener looks for revocations made by other controller replicas.
    revocation_sweep_seconds: float = 5.0
    # How often the node listener's own certificate is checked for renewal.
    server_certificate_check_seconds: float = 3600.0


@dataclasses.dataclass
class NodeKeepaliveSection:
    """[node_keepalive]: HTTP/2 keepalive on the node listener (stratus_common/keepalive.py).
    A half-open node stream is noticed within time_seconds + timeout_seconds."""

    section: typing.ClassVar[str] = "node_keepalive"
    time_seconds: float = 20.0
    timeout_seconds: float = 10.0
    # Nodes pinging more often are sent GOAWAY: keep it at or below the nodes'
    # keepalive_seconds (compute.toml).
    min_client_interval_seconds: float = 5.0
