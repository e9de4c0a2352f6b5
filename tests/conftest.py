"""Session-wide real servers: one controller (and, when asked, one PostgreSQL) per test process.

STRATUS_TEST_DATABASE=postgresql (or mysql) runs the suite against a real PostgreSQL (or
MariaDB) started here; the default is SQLite in a temporary directory.
"""

import logging
import os

import pytest

from tests.support.cloud import Cloud
from tests.support.controller import InProcessController, prepare, write_config


@pytest.fixture(scope="session")
def postgres():
    from tests.support.postgres import PostgresServer, binaries

    if binaries() is None:
        pytest.skip("PostgreSQL is not installed; scripts/install-deps installs it")
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mariadb():
    from tests.support.mariadb import MariaDBServer, installed

    if not installed():
        pytest.skip("MariaDB is not installed; scripts/install-deps installs it")
    server = MariaDBServer().start()
    yield server
    server.stop()


# A handler whose stream is gone must not print a stack for every record: threads of the
# session's in-process servers log from outside any test, and those stacks, printed under the
# handler's lock, have stalled a whole worker.
logging.raiseExceptions = False


@pytest.fixture(autouse=True)
def _no_handler_on_a_closed_stream():
    """A test that configures logging in-process (stratus-manage's main, for one) leaves a
    handler on the captured stream pytest closes after it: it goes before the next test."""
    root = logging.getLogger()
    for handler in root.handlers[:]:
        if getattr(getattr(handler, "stream", None), "closed", False):
            root.removeHandler(handler)


# STRATUS_TEST_DATABASE -> the fixture of the server the run uses.
DATABASE_SERVERS = {"postgresql": "postgres", "mysql": "mariadb"}


@pytest.fixture(scope="session")
def database_server(request):
    """The database server of this run (create_database(name) -> URL), or None on SQLite."""
    fixture = DATABASE_SERVERS.get(os.environ.get("STRATUS_TEST_DATABASE", ""))
    return request.getfixturevalue(fixture) if fixture else None


@pytest.fixture(scope="session")
def replica_server(request, database_server):
    """A server that several controller processes share: the run's PostgreSQL or MariaDB, or
    a PostgreSQL in the SQLite run."""
    return database_server or request.getfixturevalue("postgres")


@pytest.fixture(scope="session")
def database_url(database_server, tmp_path_factory):
    """The URL of the database of this test process's controller."""
    if database_server is not None:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        return database_server.create_database(f"stratus_{worker}")
    return f"sqlite:///{tmp_path_factory.mktemp('db')}/stratus.db"


@pytest.fixture(scope="session")
def controller_config(tmp_path_factory, database_url):
    # The image scrub runs at start only: tests that stage a dead upload run the scrub
    # themselves, and a background pass between their steps would race them.
    path = write_config(
        tmp_path_factory.mktemp("controller"),
        database_url,
        extra="[image]\nscrub_interval = 86400\n",
    )
    prepare(path)
    return path


@pytest.fixture(scope="session")
def controller(controller_config):
    """The in-process controller shared by the session's integration tests."""
    ctl = InProcessController(controller_config).start()
    yield ctl
    ctl.stop()


@pytest.fixture(scope="session")
def cloud(controller):
    client = Cloud(controller.address)
    yield client
    client.close()


@pytest.fixture(scope="session")
def db(controller):
    """The controller's Database, for tests that call domain functions directly.

    peewee binds every model to one proxy per process, so a test process has exactly one
    database: this one. Use db.call(fn, ...) from tests; never open a second Database.
    """
    return controller.app.db
