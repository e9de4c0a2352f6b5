"""A real PostgreSQL server for the test session, started from Debian's binaries.

initdb refuses to run as root, so the cluster is created and run as the `postgres` user in a
temporary directory; it listens on loopback only and is stopped at the end of the session.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile

from tests.support.ports import free_port


def binaries() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


class PostgresServer:
    def __init__(self):
        self.bindir = binaries()
        if self.bindir is None:
            raise RuntimeError("PostgreSQL is not installed (scripts/install-deps installs it)")
        self.root = tempfile.mkdtemp(prefix="stratus-pg-")
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            pw = pwd.getpwnam(self.user)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)

    def _run(self, *argv):
        command = [os.path.join(self.bindir, argv[0]), *argv[1:]]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd="/")

    def start(self):
        data = os.path.join(self.root, "data")
        self._run("initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync")
        self._start_server()
        return self

    def _start_server(self):
        self._run(
            "pg_ctl",
            "-D",
            os.path.join(self.root, "data"),
            "-l",
            os.path.join(self.root, "log"),
            "-w",
            "-o",
            f"-k {self.root} -p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=300",
            "start",
        )

    def _execute(self, statement: str) -> None:
        import psycopg2

        conn = psycopg2.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres"
        )
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(statement)
        conn.close()

    def create_database(self, name: str) -> str:
        self._execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def copy_database(self, template: str, name: str) -> str:
        """A new database holding what `template` holds (nothing may be using it)."""
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def crash(self):
        """An immediate stop: every connection is cut, as when the server dies."""
        self._run("pg_ctl", "-D", os.path.join(self.root, "data"), "-m", "immediate", "-w", "stop")

    def start_again(self):
        self._start_server()

    def stop(self):
        try:
            self._run("pg_ctl", "-D", os.path.join(self.root, "data"), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
