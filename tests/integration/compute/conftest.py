import pytest

from tests.integration.compute.compute_support import Compute, FakeImages


@pytest.fixture(scope="session")
def images(controller):
    fake = FakeImages(real=controller.app.image_lookup)
    controller.app.image_lookup = fake
    return fake


@pytest.fixture(scope="session")
def compute(cloud, images):
    return Compute(cloud, images)
