"""Controller replicas as operators run them: real `stratus-controller` processes on one
database, sharing the Fernet keys and the CA through it ([shared_secrets] store = database),
each on its own state directory (nothing copied between them)."""

from __future__ import annotations

import os
import secrets
import uuid
from pathlib import Path

from tests.support.cloud import Cloud
from tests.support.controller import ControllerProcess, manage_many, prepare, write_config


def shared_database(database_server, root: Path) -> str:
    """A new database on the run's server, or one SQLite file that every replica opens."""
    if database_server is not None:
        return database_server.create_database(f"replicas_{uuid.uuid4().hex[:10]}")
    return f"sqlite:///{root}/shared.db"


class Replicas:
    def __init__(self, root: Path, database_url: str, extra: str = ""):
        self.root = root
        self.database_url = database_url
        sealing_key = root / "sealing.key"
        sealing_key.write_bytes(secrets.token_bytes(48))
        os.chmod(sealing_key, 0o600)
        self.extra = f'[shared_secrets]\nstore = "database"\nsealing_key_file = "{sealing_key}"\n'
        self.extra += extra
        self.configs: list[Path] = []
        self.processes: list[ControllerProcess] = []
        self.clouds: list[Cloud] = []

    def config(self, index: int, extra: str = "") -> Path:
        return write_config(
            self.root / f"replica-{index}", self.database_url, extra=self.extra + extra
        )

    def start(self, count: int, extra: str = "") -> Replicas:
        """Prepares the database once (through the first replica's config), then starts
        `count` replicas, each with a state directory of its own."""
        self.configs = [self.config(i, extra) for i in range(count)]
        prepare(self.configs[0])
        for i, config in enumerate(self.configs):
            self.processes.append(ControllerProcess(config, self.root / f"replica-{i}.log").start())
            self.clouds.append(Cloud(self.processes[-1].address))
        return self

    def manage(self, index: int, *argv: str) -> str:
        (done,) = manage_many(self.configs[index], list(argv))
        assert done.returncode == 0, done.stderr
        return done.stdout

    def close(self) -> None:
        for cloud in self.clouds:
            cloud.close()
        for process in self.processes:
            if process.proc.poll() is None:
                process.terminate()
