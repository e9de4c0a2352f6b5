import pytest

from tests.integration.replication.replicas import Replicas, shared_database


@pytest.fixture
def replicas(database_server, tmp_path):
    """Replicas on a database of their own, started by the test (Replicas.start)."""
    group = Replicas(tmp_path, shared_database(database_server, tmp_path))
    yield group
    group.close()
