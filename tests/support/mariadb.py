"""A real MariaDB server for the test session, started from Debian's `mariadb-server`.

As with PostgreSQL (tests/support/postgres.py), the data directory is created in a temporary
directory, the server runs as the `mysql` user (as root only when there is no such user, and
then it must be told so), listens on loopback only and is stopped at the end of the session.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time

from tests.support.ports import free_port

SERVER = "/usr/sbin/mariadbd"
INSTALL_DB = "/usr/bin/mariadb-install-db"
START_DEADLINE = 120.0


def installed() -> bool:
    return os.path.exists(SERVER) and os.path.exists(INSTALL_DB)


class MariaDBServer:
    def __init__(self):
        if not installed():
            raise RuntimeError("MariaDB is not installed (scripts/install-deps installs it)")
        self.root = tempfile.mkdtemp(prefix="stratus-mariadb-")
        self.data = os.path.join(self.root, "data")
        self.port = free_port()
        self.user = "mysql" if _has_user("mysql") else "root"
        self.process: subprocess.Popen | None = None
        if self.user != "root":
            pw = pwd.getpwnam(self.user)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)

    def _server_flags(self) -> list[str]:
        return [
            "--no-defaults",
            f"--datadir={self.data}",
            f"--user={self.user}",
            f"--tmpdir={self.root}",
            f"--socket={self.root}/mysqld.sock",
            f"--pid-file={self.root}/mysqld.pid",
            f"--log-error={self.root}/error.log",
        ]

    def start(self):
        subprocess.run(
            [
                INSTALL_DB,
                *self._server_flags()[:4],
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
            ],
            check=True,
            capture_output=True,
            cwd="/",
        )
        self._start_server()
        return self

    def _start_server(self):
        self.process = subprocess.Popen(
            [
                SERVER,
                *self._server_flags(),
                "--bind-address=127.0.0.1",
                f"--port={self.port}",
                "--skip-name-resolve",
                # fsync off, as the PostgreSQL of the tests: a crash of the test host loses
                # nothing worth keeping.
                "--innodb-flush-log-at-trx-commit=0",
                "--innodb-doublewrite=0",
                "--sync-binlog=0",
                "--max-connections=400",
                "--innodb-buffer-pool-size=64M",
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_bin",
                # Serializable-safe defaults as an operator would set them for OpenStack.
                "--transaction-isolation=READ-COMMITTED",
                "--sql-mode=STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd="/",
        )
        self._wait_ready()

    def _connect(self, database: str | None = None):
        import pymysql

        return pymysql.connect(
            host="127.0.0.1", port=self.port, user="root", database=database, autocommit=True
        )

    def _wait_ready(self) -> None:
        import pymysql

        deadline = time.monotonic() + START_DEADLINE
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"mariadbd exited: see {self.root}/error.log")
            try:
                self._connect().close()
                return
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def create_database(self, name: str) -> str:
        conn = self._connect()
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        conn.close()
        return f"mysql://root@127.0.0.1:{self.port}/{name}"

    def copy_database(self, template: str, name: str) -> str:
        """A new database holding what `template` holds: MariaDB has no template databases,
        so each table is made again from its SHOW CREATE TABLE (CREATE TABLE ... LIKE would
        lose the foreign keys) and filled, foreign keys unchecked while copying."""
        url = self.create_database(name)
        conn = self._connect(name)
        with conn.cursor() as cur:
            cur.execute("SET SESSION foreign_key_checks = 0")
            cur.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (template,),
            )
            for (table,) in cur.fetchall():
                cur.execute(f"SHOW CREATE TABLE `{template}`.`{table}`")
                cur.execute(cur.fetchone()[1])  # unqualified: made in `name`
                cur.execute(f"INSERT INTO `{table}` SELECT * FROM `{template}`.`{table}`")
        conn.close()
        return url

    def stop(self):
        try:
            if self.process is not None and self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(30)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False
