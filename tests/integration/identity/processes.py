"""Real controller processes for the identity tests, each with a database of its own.

The test process already holds the session controller's database (peewee binds every model
to one proxy per process), so everything that opens another database here — `stratus-manage`
included — runs in a child process.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

from tests.support.cloud import Cloud
from tests.support.controller import ControllerProcess, prepare, write_config

ROOT = Path(__file__).resolve().parents[3]


def manage(config: Path, *argv: str) -> subprocess.CompletedProcess:
    """`stratus-manage --config CONFIG ARGV...` in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "controller.manage", "--config", str(config), *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class Databases:
    """Fresh databases of the kind the session runs on (SQLite, PostgreSQL or MariaDB)."""

    def __init__(self, root: Path, server=None):
        self.root = root
        self.server = server

    def new(self) -> str:
        """An empty database."""
        name = f"ident_{uuid.uuid4().hex[:12]}"
        if self.server is not None:
            return self.server.create_database(name)
        return f"sqlite:///{self.root / name}.db"

    def copy(self, url: str) -> str:
        """A new database holding what `url` holds (nothing may be using `url`)."""
        name = f"ident_{uuid.uuid4().hex[:12]}"
        if self.server is None:
            copy = self.root / f"{name}.db"
            with (
                contextlib.closing(sqlite3.connect(url[len("sqlite:///") :])) as source,
                contextlib.closing(sqlite3.connect(copy)) as target,
            ):
                source.backup(target)
            return f"sqlite:///{copy}"
        return self.server.copy_database(url.rsplit("/", 1)[1], name)


class Template:
    """One prepared state (schema, Fernet keys, bootstrap), copied for each controller process:
    a copy takes milliseconds where preparing takes `stratus-manage` runs."""

    def __init__(self, root: Path, databases: Databases):
        self.root = root
        self.databases = databases
        self.config: Path | None = None

    def copy_to(self, state: Path) -> str:
        """Puts the template's keys into `state`; returns the URL of a copy of its database."""
        if self.config is None:
            self.config = write_config(self.root / "template", self.databases.new())
            prepare(self.config)
        shutil.copytree(self.config.parent / "fernet-keys", state / "fernet-keys")
        return self.databases.copy(database_url(self.config))


class Spawner:
    """Starts prepared controller processes and stops whatever is left at the end."""

    def __init__(self, root: Path, template: Template):
        self.root = root
        self.template = template
        self.running: list[ControllerProcess] = []
        self.clouds: list[Cloud] = []

    def config(
        self, extra: str = "", name: str | None = None, files: dict[str, str] | None = None
    ) -> Path:
        """A prepared state directory (its own database, keys, bootstrap) and its config file.

        `files` are written into the state directory; "{state}" in `extra` names it."""
        state = self.root / (name or f"ctl-{uuid.uuid4().hex[:8]}")
        state.mkdir(parents=True)
        url = self.template.copy_to(state)
        for file_name, text in (files or {}).items():
            (state / file_name).write_text(text)
        return write_config(state, url, extra=extra.replace("{state}", str(state)))

    def start(self, config: Path, log_name: str = "controller.log") -> ControllerProcess:
        process = ControllerProcess(config, config.parent / log_name)
        self.running.append(process)
        process.start()
        return process

    def cloud(self, process: ControllerProcess) -> Cloud:
        cloud = Cloud(process.address)
        self.clouds.append(cloud)
        return cloud

    def close(self):
        for cloud in self.clouds:
            cloud.close()
        for process in self.running:
            if process.proc is not None and process.proc.poll() is None:
                process.kill()


def database_url(config: Path) -> str:
    import tomllib

    return tomllib.loads(config.read_text())["database"]["url"]
