"""Networking benchmark: port creates through the real controller, and IPAM decisions beside
a plain database insert of the same rows, in the same run.

  python -m bench.network_bench [--ports 2000] [--concurrency 32] [--decisions 1000]
                                [--database-url postgresql://...]

1. A real `stratus-controller` process (SQLite unless a URL is given) serves CreatePort at the
   given concurrency on one /16 subnet (65,533 addresses), each port's address chosen by IPAM
   in its transaction: ports per second, p50/p99, the controller's CPU per create.
2. In this process, on the same database and a second /16: IPAM decisions (lock the subnet,
   read what it holds, choose the first free address, write the port and its address: one
   transaction each) against the plain insert of the same two rows with the address known
   beforehand (one transaction each). The ratio is what choosing the address costs.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import tempfile
import time
import uuid
from pathlib import Path

import grpc
from google.protobuf import field_mask_pb2

from bench.common import load, start_controller
from stratus.identity.v1 import identity_service_pb2 as ipb
from stratus.identity.v1 import identity_service_pb2_grpc as ipb_grpc
from stratus.network.v1 import network_service_pb2 as npb
from stratus.network.v1 import network_service_pb2_grpc as npb_grpc
from tests.support.controller import ADMIN_PASSWORD

ISSUE = ipb.IssueTokenRequest(user_name="admin", password=ADMIN_PASSWORD, project_name="admin")


async def _network(stub, auth, project_id: str, name: str, cidr: str) -> tuple[str, str]:
    await stub.UpdateNetworkQuotas(
        npb.UpdateNetworkQuotasRequest(
            quotas=npb.NetworkQuotas(
                project_id=project_id, limits=npb.NetworkQuotaValues(ports=-1)
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["limits.ports"]),
        ),
        metadata=auth,
    )
    network = await stub.CreateNetwork(
        npb.CreateNetworkRequest(network=npb.Network(name=name)), metadata=auth
    )
    subnet = await stub.CreateSubnet(
        npb.CreateSubnetRequest(subnet=npb.Subnet(network_id=network.id, cidr=cidr)),
        metadata=auth,
    )
    return network.id, subnet.id


def _decisions(url: str, network_id: str, subnet_id: str, project_id: str, count: int):
    """(IPAM decisions per second, plain inserts per second) on the same database."""
    from controller.db.database import Database
    from controller.db.queries import utcnow
    from controller.network import ipam
    from controller.network.models import Port

    db = Database(url, workers=1)

    def port_row(mac_index: int) -> dict:
        now = utcnow()
        return dict(
            id=str(uuid.uuid4()),
            network_id=network_id,
            project_id=project_id,
            mac_address=f"fa:16:3f:{mac_index >> 16 & 255:02x}:{mac_index >> 8 & 255:02x}:"
            f"{mac_index & 255:02x}",
            allowed_address_pairs=[],
            created_at=now,
            updated_at=now,
        )

    def decide(i: int) -> None:
        with db.write_transaction():
            subnet = ipam.lock_subnets([subnet_id])[subnet_id]
            address = ipam.pick_next(subnet)
            port = Port.create(**port_row(i))
            ipam.record(port.id, network_id, [(subnet_id, address)])

    first_plain = int(ipaddress.ip_address("10.99.128.0"))

    def insert(i: int) -> None:
        with db.write_transaction():
            port = Port.create(**port_row(count + i))
            ipam.record(
                port.id, network_id, [(subnet_id, str(ipaddress.ip_address(first_plain + i)))]
            )

    # In alternating blocks, so both see the same database size and the same machine.
    spent = {decide: 0.0, insert: 0.0}
    block = 50
    for first in range(0, count, block):
        for step in (decide, insert):
            start = time.perf_counter()
            for i in range(first, min(first + block, count)):
                db.call(step, i)
            spent[step] += time.perf_counter() - start
    rates = [count / spent[decide], count / spent[insert]]
    db.close()
    return rates


async def run(args) -> None:
    url = args.database_url or f"sqlite:///{Path(tempfile.mkdtemp(prefix='stratus-net-'))}/bench.db"
    ctl = start_controller(database_url=url)
    try:
        async with grpc.aio.insecure_channel(ctl.address) as channel:
            identity = ipb_grpc.IdentityServiceStub(channel)
            token = (await identity.IssueToken(ISSUE)).token
            auth = (("authorization", f"Bearer {token}"),)
            info = await identity.ValidateToken(
                ipb.ValidateTokenRequest(token=token), metadata=auth
            )
            project_id = info.info.project_id
            stub = npb_grpc.NetworkServiceStub(channel)
            network_id, _ = await _network(stub, auth, project_id, "bench", "10.98.0.0/16")
            request = npb.CreatePortRequest(port=npb.Port(network_id=network_id))
            creates = await load(
                f"CreatePort on a /16, c={args.concurrency}",
                lambda: stub.CreatePort(request, metadata=auth),
                args.concurrency,
                args.ports,
                600,
                ctl.proc.pid,
            )
            second, subnet_id = await _network(stub, auth, project_id, "bench2", "10.99.0.0/16")
        decide_rate, insert_rate = _decisions(url, second, subnet_id, project_id, args.decisions)
        print(f"network benchmark: controller {ctl.address}, {url.split(':', 1)[0]}")
        print(creates.line())
        print(
            f"{'IPAM decision + port insert, one txn each':<44} {decide_rate:9.0f}/s"
            f"  ratio {decide_rate / insert_rate:5.2f}x of the plain insert of the same rows"
            f" ({insert_rate:.0f}/s)"
        )
    finally:
        ctl.terminate()


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ports", type=int, default=2000, help="CreatePort calls")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--decisions", type=int, default=1000, help="IPAM decisions and inserts")
    parser.add_argument("--database-url", default="", help="default: SQLite in a temp dir")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
