"""A new server's network interfaces (Nova's `--nic`): checked through the network port before
the server is recorded, so bad input changes nothing; its ports made as soon as it is, so
`Server.addresses` shows the addresses from then on. Should the ports fail after all (another
create took the last address meanwhile), the server goes to ERROR with the reason, as a
failed build does, and is not placed."""

from __future__ import annotations

from controller.compute.records import lifecycle
from controller.compute.records.models import Instance
from controller.network.port import NetworkPort, NicRequest
from stratus_common.errors import StratusError


def requested(networks) -> list[NicRequest]:
    return [NicRequest(n.network_id, n.port_id, n.fixed_ip) for n in networks]


def earlier_server(caller, request_id: str) -> str:
    """The server a create with this request id made before (a retry), or ""."""
    if not request_id:
        return ""
    row = (
        Instance.select(Instance.id)
        .where(Instance.project_id == caller.project_id, Instance.request_id == request_id)
        .first()
    )
    return row.id if row else ""


def allocate(db, network: NetworkPort, caller, server_id: str, nics: list[NicRequest]) -> dict:
    """The server's ports; returns its addresses, or {} when they could not be made (the
    server is then in ERROR)."""
    try:
        found = network.allocate(caller, server_id, nics)
    except StratusError as error:
        with db.write_transaction():
            lifecycle.fail_build(server_id, f"network allocation failed: {error.message}")
        return {}
    with db.write_transaction():
        lifecycle.change(server_id, addresses=found)
    return found
