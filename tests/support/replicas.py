"""Several real controller processes on one database server (PostgreSQL or MariaDB), as
replicas run."""

from __future__ import annotations

import contextlib
import uuid

from tests.support.cloud import Cloud
from tests.support.controller import ControllerProcess, prepare, write_config


@contextlib.contextmanager
def controller_replicas(server, tmp_path, name: str, count: int = 2):
    """(database url, a Cloud per replica) on a new database; the processes end after."""
    url = server.create_database(f"{name}_{uuid.uuid4().hex[:8]}")
    processes, clouds = [], []
    try:
        for i in range(count):
            config = write_config(tmp_path / f"controller-{i}", url)
            prepare(config)
            processes.append(ControllerProcess(config, tmp_path / f"controller-{i}.log").start())
            clouds.append(Cloud(processes[-1].address))
        yield url, clouds
    finally:
        for cloud in clouds:
            cloud.close()
        for process in processes:
            process.terminate()
