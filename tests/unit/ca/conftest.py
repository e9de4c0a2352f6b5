import pytest

from controller.ca.authority import CertificateAuthority
from controller.ca.certificates import CertificateService
from controller.ca.repository import MemoryCARepository
from tests.unit.ca.ca_fixtures import Clock


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def authority(tmp_path, clock):
    return CertificateAuthority.create(tmp_path / "ca", now=clock())


@pytest.fixture
def repository():
    return MemoryCARepository()


@pytest.fixture
def service(authority, repository, clock):
    return CertificateService(authority, repository, clock=clock)
