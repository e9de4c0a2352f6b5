"""`stratus-dashboard` as systemd runs it: READY=1 once it serves (even while the controller
is away: its pages say so), STOPPING=1 on SIGTERM, then a graceful exit."""

from __future__ import annotations

import signal
import socket

from tests.support.dashboard import DashboardProcess
from tests.support.ports import free_port


def test_it_tells_systemd_when_it_is_ready_and_when_it_stops(tmp_path):
    address = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind(address)
        manager.settimeout(60)
        # No controller listens there: the dashboard serves all the same.
        dashboard = DashboardProcess(tmp_path / "dashboard", f"127.0.0.1:{free_port()}")
        dashboard.start(env={"NOTIFY_SOCKET": address})
        try:
            assert manager.recv(4096) == b"READY=1"
        finally:
            dashboard.stop()
        assert manager.recv(4096) == b"STOPPING=1"
        # uvicorn shuts down gracefully, then re-raises the signal it caught: systemd counts a
        # death by its own KillSignal as a clean stop.
        assert dashboard.proc.returncode == -signal.SIGTERM
