"""Fixtures of the node tests: a real agent per test, servers, and an image to boot."""

import pytest

from tests.integration.compute_node.node_support import (
    Node,
    Servers,
    start_in_zone,
    upload_image,
)
from tests.integration.compute_node.test_node_stream import zone_of

RAW_DISK = b"\0" * (1 << 20)


@pytest.fixture(scope="module")
def servers(cloud):
    return Servers(cloud)


@pytest.fixture(scope="module")
def image_id(cloud):
    return upload_image(cloud, RAW_DISK, "raw")


@pytest.fixture
def node(controller, tmp_path):
    started = Node(controller, tmp_path / "node").start()
    yield started
    started.close()


@pytest.fixture
def second_node(controller, node, tmp_path):
    """Another host; the two alone in a zone of their own."""
    other = start_in_zone(controller, tmp_path / "second", zone_of(controller, node))
    yield other
    other.close()
