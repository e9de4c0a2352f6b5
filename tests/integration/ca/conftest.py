import pytest

from tests.integration.ca.ca_harness import running_cluster


@pytest.fixture
def cluster_at(tmp_path):
    """`async with cluster_at() as cluster:` inside a test's own event loop."""
    return lambda: running_cluster(tmp_path)
