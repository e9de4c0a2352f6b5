"""Real processes: one `stratus-controller` and `stratus-compute` agents, each a child process
that tests may kill (SIGKILL) and start again on the same ports and state."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from stratus.ca.v1 import ca_service_pb2 as capb
from stratus.ca.v1 import ca_service_pb2_grpc as capb_grpc
from tests.support.controller import ControllerProcess, prepare, write_config
from tests.support.ports import free_port

NODE_XML = """<node><cpu><mhz>2400</mhz><model>x86_64</model><active>{vcpus}</active>
<total>{vcpus}</total><nodes>1</nodes><sockets>1</sockets><cores>{vcpus}</cores>
<threads>1</threads></cpu><memory>{kib}</memory></node>"""


class Controller:
    """A controller on fixed loopback ports (chosen free once), so nodes find it again
    after it is killed and started."""

    def __init__(
        self,
        directory: Path,
        extra: str = "",
        database_url: str = "",
        file_size_limit: int | None = None,
    ):
        self.directory = directory
        self.public_port, self.node_port = free_port(), free_port()
        conductor = (
            "[conductor]\nsweep_interval = 0.5\nstuck_task_grace = 2\n"
            "outbox_poll_interval = 0.5\nreport_interval = 1\n"
        )
        self.config = write_config(
            directory,
            database_url or f"sqlite:///{directory}/stratus.db",
            listen=f"127.0.0.1:{self.public_port}",
            extra=f'[ca]\nnode_listen = "127.0.0.1:{self.node_port}"\n{conductor}{extra}',
        )
        prepare(self.config, public_url=f"grpc://127.0.0.1:{self.public_port}")
        self.process = ControllerProcess(self.config, directory / "controller.log", file_size_limit)
        self.starts = 0

    def start(self, env: dict[str, str] | None = None) -> Controller:
        log = self.directory / f"controller-{self.starts}.log"
        self.process.log_path = log
        self.process.start(env=env)
        self.starts += 1
        return self

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.public_port}"

    @property
    def node_address(self) -> str:
        return f"127.0.0.1:{self.node_port}"

    def kill(self) -> None:
        self.process.kill()

    def stop(self) -> None:
        if self.process.proc is not None and self.process.proc.poll() is None:
            self.process.terminate()


def enrollment_token(cloud, host: str) -> capb.EnrollmentToken:
    ca = capb_grpc.CertificateAuthorityServiceStub(cloud.channel)
    return ca.CreateEnrollmentToken(
        capb.CreateEnrollmentTokenRequest(host_name=host), metadata=cloud.admin
    )


class ComputeProcess:
    """`stratus-compute` (python -m compute_node.main) with its own config and state."""

    def __init__(
        self,
        directory: Path,
        host: str,
        controller: Controller,
        cloud,
        *,
        uri: str | None = None,
        vcpus: int = 16,
        memory_mb: int = 32768,
        extra: str = "",
        compute_extra: str = "",
        controllers: list[str] | None = None,
        prefix: tuple[str, ...] = (),
    ):
        self.directory = directory
        self.host = host
        self.prefix = prefix  # e.g. `ip netns exec NS`: where the agent runs
        directory.mkdir(parents=True, exist_ok=True)
        if uri is None:
            node_xml = directory / "node.xml"
            node_xml.write_text(NODE_XML.format(vcpus=vcpus, kib=memory_mb * 1024))
            uri = f"test://{node_xml}"
        token = enrollment_token(cloud, host)
        self.token = token.token
        self.config = directory / "compute.toml"
        self.config.write_text(
            f'[compute]\nhost_name = "{host}"\n'
            f"controllers = {json.dumps(controllers or [controller.node_address])}\n"
            f"{compute_extra}"
            f'public_endpoint = "{controller.address}"\nstate_dir = "{directory / "state"}"\n'
            f'ca_fingerprint = "{token.ca_fingerprint_sha256}"\nlog_level = "info"\n'
            f'[libvirt]\nuri = "{uri}"\nshutdown_timeout = 2\n{extra}'
        )
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def log_path(self) -> Path:
        return self.directory / f"compute-{self.starts}.log"

    def start(
        self, wait_connected: bool = True, timeout: float = 60, env: dict[str, str] | None = None
    ) -> ComputeProcess:
        self.starts += 1
        args = [
            *self.prefix,
            sys.executable,
            "-m",
            "compute_node.main",
            "--config",
            str(self.config),
        ]
        if self.starts == 1:
            args += [f"--enroll-token={self.token}"]  # a token may start with a dash
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                args,
                stdout=log,
                stderr=log,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        if wait_connected:
            self.wait_log(r"connected to the controller as node", timeout)
        return self

    def wait_log(self, pattern: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace")
            match = re.search(pattern, text)
            if match:
                return match.group(0)
            if self.proc.poll() is not None:
                raise RuntimeError(f"stratus-compute {self.host} exited: {text[-3000:]}")
            time.sleep(0.05)
        raise TimeoutError(
            f"{pattern!r} not in the log of {self.host}: "
            f"{self.log_path.read_text(errors='replace')[-3000:]}"
        )

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 30) -> int:
        self.proc.terminate()
        return self.proc.wait(timeout)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def tear_down(node: ComputeProcess | None, controller, cloud, daemon) -> None:
    """Stops what a real-guest fixture started, the agent first (its guests stay with the
    daemon, which goes last)."""
    if node is not None and node.running():
        node.terminate()
    controller.stop()
    cloud.close()
    daemon.stop(shutdown_timeout=0)
