"""stratus-compute: the compute node agent.

    stratus-compute [--config /etc/stratus/compute.toml] [--enroll-token TOKEN] ...

On first start the node enrolls with a one-time token (its key never leaves the host), then
keeps one stream open to the controller. SIGTERM or SIGINT closes the stream and exits;
guests keep running. Exit status 3: the controller refused this node because another agent
with this host's name and certificate holds its session.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
import uuid
from pathlib import Path

import grpc

from compute_node import config as config_mod
from compute_node import metrics, resume
from compute_node import pki as pki_mod
from compute_node.agent import Agent, AgentSettings, HostIdentityInUse
from compute_node.console_relay import ConsoleRelay, RelaySettings
from compute_node.drivers.libvirt.driver import LibvirtConfig, LibvirtDriver
from compute_node.executor import Executor
from compute_node.failover import ControllerAddresses
from compute_node.image_cache import ImageCache
from compute_node.journal import Journal
from compute_node.network.links import LinkSettings
from compute_node.network.wiring import NetworkWiring, WiringLoop, WiringSettings
from stratus_common import keepalive, metrics_endpoint, systemd

LOG = logging.getLogger("stratus-compute")
# Another agent holds this host's session: restarting would not help (the unit says so too).
EXIT_IDENTITY_IN_USE = 3


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="stratus-compute", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--config",
        type=Path,
        help=f"configuration file (default {config_mod.DEFAULT_PATH} if it exists)",
    )
    parser.add_argument(
        "--enroll-token",
        default=os.environ.get("STRATUS_ENROLL_TOKEN"),
        help="one-time enrollment token (first start only; or STRATUS_ENROLL_TOKEN)",
    )
    parser.add_argument("--host-name")
    parser.add_argument(
        "--controller", help="the node listener(s): host:port[,host:port...] to fail over"
    )
    parser.add_argument("--public-endpoint", help="the public listener, host:port")
    parser.add_argument("--state-dir")
    parser.add_argument("--libvirt-uri")
    parser.add_argument("--log-level")
    parser.add_argument(
        "--enroll-only",
        action="store_true",
        help="enroll with --enroll-token (or STRATUS_ENROLL_TOKEN) and exit (install scripts)",
    )
    return parser.parse_args(argv)


def channel_options(max_bytes: int) -> list:
    return [
        ("grpc.max_send_message_length", max_bytes),
        ("grpc.max_receive_message_length", max_bytes),
    ]


async def enroll_if_needed(cfg, pki, token: str | None) -> None:
    if pki.is_enrolled():
        return
    if not token:
        raise SystemExit(
            "this node is not enrolled: start it once with --enroll-token TOKEN "
            "(from `stratus-manage` or the CA API)"
        )
    async with grpc.aio.insecure_channel(cfg.compute.public_endpoint) as channel:
        await pki_mod.enroll(pki, channel, token, ca_fingerprint=cfg.compute.ca_fingerprint or None)
    LOG.info("enrolled as %s", pki.host_name)


async def ready_when_connected(agent: Agent, controller: str) -> None:
    """READY=1 to systemd once the controller welcomed the first stream: a node is of use
    only then (a unit ordered after this one can count on it)."""
    systemd.notify(f"STATUS=connecting to the controller at {controller}")
    await agent.connected.wait()
    systemd.notify(systemd.READY, f"STATUS=connected as node {agent.node_id}")


async def run(cfg: config_mod.Config, token: str | None, enroll_only: bool = False) -> int:
    os.makedirs(cfg.compute.state_dir, exist_ok=True)
    pki = pki_mod.NodePKI(cfg.host_name, Path(cfg.path("pki")))
    await enroll_if_needed(cfg, pki, token)
    if enroll_only:
        return 0
    pki.log_state()
    metrics_endpoint.serve(cfg.metrics.listen)
    options = channel_options(cfg.compute.max_message_bytes) + keepalive.client_options(
        cfg.compute.keepalive_seconds, cfg.compute.keepalive_timeout_seconds
    )
    controllers = ControllerAddresses(cfg.controller_addresses)

    def channel(address: str | None = None):
        """A channel to the replica of the current stream (or to `address`)."""
        return grpc.aio.secure_channel(
            address or controllers.current, pki.channel_credentials(), options=options
        )

    def stream_channel():
        address = controllers.for_new_stream()
        LOG.info("opening the stream to the controller at %s", address)
        return channel(address)

    cache = ImageCache(cfg.path("images"), max_unused_age=cfg.image_cache.max_unused_age)
    driver = await asyncio.to_thread(
        LibvirtDriver,
        LibvirtConfig(
            uri=cfg.libvirt.uri,
            instances_path=cfg.path("instances"),
            network=cfg.libvirt.network,
            domain_type=cfg.libvirt.domain_type,
            shutdown_timeout=cfg.libvirt.shutdown_timeout,
            console_socket_dir=cfg.console.socket_dir,
        ),
        cache,
    )
    journal = Journal(cfg.path("journal.db"), boot_id=str(uuid.uuid4()))
    running_guests = None
    if cfg.compute.resume_guests_state_on_host_boot:
        running_guests = resume.RunningGuests(cfg.path("running-guests.json"))
        started = await asyncio.to_thread(resume.resume_guests, driver, running_guests)
        if started:
            LOG.info(
                "started again guests that ran before the host stopped: %s", ", ".join(started)
            )
    net = cfg.network
    wiring = NetworkWiring(
        WiringSettings(
            links=LinkSettings(
                tunnel_ip=net.tunnel_ip,
                physical_network_mappings=tuple(sorted(net.physical_network_mappings.items())),
                vxlan_port=net.vxlan_port,
            ),
            state_dir=cfg.path("network"),
            interval=net.reconcile_interval,
        )
    )
    # The simulation runs no guests: nothing to wire (its ports stay BUILD).
    network = None if driver.host.facts.is_test else WiringLoop(wiring)
    agent = Agent(
        AgentSettings(
            host_name=cfg.host_name,
            availability_zone=cfg.compute.availability_zone,
            max_message_bytes=cfg.compute.max_message_bytes,
            tunnel_ip=net.tunnel_ip,
            physical_networks=tuple(sorted(net.physical_network_mappings)),
        ),
        driver,
        Executor(
            driver,
            cache,
            journal,
            concurrency=cfg.compute.concurrency,
            on_guests_changed=network.poke if network else None,
            scratch=cfg.path("snapshots"),
        ),
        stream_channel,
        network,
        consoles=ConsoleRelay(
            driver,
            RelaySettings(
                max_channels=cfg.console.max_channels, window_bytes=cfg.console.window_bytes
            ),
        ),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    async def prune():
        while True:
            await asyncio.sleep(cfg.image_cache.prune_interval)
            removed = await asyncio.to_thread(cache.prune)
            journal.prune(time.time() - 7 * 86400)
            if removed:
                LOG.info("removed unused cached images %s", ", ".join(removed))

    async def record_running_guests():
        try:
            running_guests.record((await asyncio.to_thread(driver.list_instances)).values())
        except Exception:  # the hypervisor did not answer: the last record stands
            LOG.exception("recording the running guests failed")

    async def keep_recording_running_guests():
        while True:
            await record_running_guests()
            await asyncio.sleep(resume.RECORD_INTERVAL)

    # A renewed certificate is used by the next stream: end the current one.
    renewer = asyncio.ensure_future(pki_mod.keep_renewed(pki, channel, on_renewed=agent.reconnect))
    pruner = asyncio.ensure_future(prune())
    metrics.watch(agent, driver)
    ready = asyncio.ensure_future(ready_when_connected(agent, ", ".join(cfg.controller_addresses)))
    background = [renewer, pruner, ready]
    watchdog = systemd.start_watchdog()
    if watchdog is not None:
        background.append(watchdog)
    if running_guests is not None:
        background.append(asyncio.ensure_future(keep_recording_running_guests()))
    LOG.info(
        "stratus-compute %s on %s (%s, guests as %s)",
        cfg.host_name,
        cfg.libvirt.uri,
        driver.host.facts.hypervisor_type,
        driver.domain_type,
    )
    try:
        await agent.run(stop)
    except HostIdentityInUse as refusal:
        LOG.error("the controller refused this node: %s", refusal)
        return EXIT_IDENTITY_IN_USE
    finally:
        systemd.notify(systemd.STOPPING)
        for task in background:
            task.cancel()
        if running_guests is not None:
            await record_running_guests()
        driver.close()  # guests keep running
        await asyncio.to_thread(wiring.close)  # bridges and rules stay for the guests
        journal.close()
    LOG.info("stopped; guests keep running")
    return 0


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    overrides = {
        "compute": {
            "host_name": args.host_name,
            # A flag names one replica or several: it replaces the file's list either way.
            "controllers": args.controller.split(",") if args.controller else None,
            "public_endpoint": args.public_endpoint,
            "state_dir": args.state_dir,
            "log_level": args.log_level,
        },
        "libvirt": {"uri": args.libvirt_uri},
    }
    try:
        cfg = config_mod.load(args.config, overrides)
    except config_mod.ConfigError as exc:
        print(f"stratus-compute: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=cfg.compute.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return asyncio.run(run(cfg, args.enroll_token, args.enroll_only))
    except pki_mod.PKIError as exc:
        LOG.error("%s", exc)
        return 1
    except config_mod.ConfigError as exc:  # found while starting (the metrics address)
        print(f"stratus-compute: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
