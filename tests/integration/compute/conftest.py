import pytest

from tests.integration.compute.compute_support import Compute, ImageRecords


@pytest.fixture(scope="session")
def images(db):
    return ImageRecords(db)


@pytest.fixture(scope="session")
def image_lookup(controller):
    """The image port the compute API was wired with."""
    return controller.app.image_port.lookup


@pytest.fixture(scope="session")
def compute(cloud, images):
    return Compute(cloud, images)
