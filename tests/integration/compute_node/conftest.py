"""Fixtures of the node tests: a real agent per test, servers, and an image to boot."""

import pytest

from tests.integration.compute_node.node_support import Node, Servers, upload_image

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
