"""One cluster of real processes per test process, shared by the boot and delete faults."""

import os

import pytest

from compute_node.drivers.libvirt.private_daemon import missing_tools
from tests.fault.cluster import Cluster

needs_daemons = pytest.mark.skipif(
    os.geteuid() != 0 or bool(missing_tools()),
    reason="needs root and libvirtd for private libvirt daemons",
)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    made = Cluster(tmp_path_factory.mktemp("faults"))
    try:
        yield made.start()
    finally:
        made.close()


@pytest.fixture
def healthy(cluster):
    """Every process up and unarmed, every host enabled: what a failed test may have left."""
    if not cluster.controller.process.proc or cluster.controller.process.proc.poll() is not None:
        cluster.controller.start()
    for node in cluster.nodes:
        if not node.running():
            node.start()
    cluster.enable_all()
    return cluster
