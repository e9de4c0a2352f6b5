"""Every unit in scripts/systemd/ follows the pattern scripts/systemd/README.md describes:
readiness and a watchdog, restarts on failure, its own user, and the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

UNITS = sorted((Path(__file__).resolve().parents[3] / "scripts" / "systemd").glob("*.service"))

REQUIRED = {
    "Type": "notify",
    "NotifyAccess": "main",
    "Restart": "on-failure",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "PrivateTmp": "yes",
}
# No capabilities, but for the node's network wiring (ip, bridge, nft, dnsmasq's port 67).
CAPABILITIES = {"stratus-compute.service": "CAP_NET_ADMIN CAP_NET_BIND_SERVICE"}
PRESENT = ("WatchdogSec", "User", "ReadWritePaths", "RestrictAddressFamilies", "SystemCallFilter")


def service_section(unit: Path) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    section = ""
    for raw in unit.read_text().splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def test_there_are_units():
    assert {u.name for u in UNITS} >= {"stratus-controller.service", "stratus-compute.service"}


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_unit_follows_the_pattern(unit):
    service = service_section(unit)
    for key, value in REQUIRED.items():
        assert service.get(key) == [value], f"{unit.name}: {key}={value} expected"
    for key in PRESENT:
        assert service.get(key), f"{unit.name}: {key}= missing"
    assert "root" not in service["User"]
    capabilities = CAPABILITIES.get(unit.name, "")
    assert service["CapabilityBoundingSet"] == [capabilities]
    assert service["AmbientCapabilities"] == [capabilities]
    assert "AF_PACKET" not in " ".join(service["RestrictAddressFamilies"])


def test_the_controller_takes_its_secrets_as_credentials():
    service = service_section(next(u for u in UNITS if u.name == "stratus-controller.service"))
    assert service["LoadCredential"] == ["database-url:/etc/stratus/credentials/database-url"]
