import pytest

from tests.integration.security.records import RecordHosts
from tests.integration.security.world import World


@pytest.fixture(scope="module")
def world(cloud, controller, db):
    """The matrix's world on the session's controller, with hosts written as records."""
    return World(cloud, controller.app.config, RecordHosts(db))
