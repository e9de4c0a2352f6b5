import asyncio
import hashlib
import uuid

import pytest

from compute_node.drivers.libvirt.driver import LibvirtConfig, LibvirtDriver
from compute_node.image_cache import ImageCache

NODE_XML = """<node>
  <cpu><mhz>2400</mhz><model>x86_64</model><active>{vcpus}</active><total>{vcpus}</total>
       <nodes>1</nodes><sockets>1</sockets><cores>{vcpus}</cores><threads>1</threads></cpu>
  <memory>{memory_kib}</memory>
</node>
"""


def make_node_uri(directory, vcpus=12, memory_mb=24576):
    """A libvirt test-driver URI for a simulated host of the given size."""
    path = directory / "node.xml"
    path.write_text(NODE_XML.format(vcpus=vcpus, memory_kib=memory_mb * 1024))
    return f"test://{path}"


@pytest.fixture
def node_uri():
    return make_node_uri


@pytest.fixture
def image_cache(tmp_path):
    return ImageCache(str(tmp_path / "cache"))


@pytest.fixture
def make_driver(tmp_path, image_cache):
    made = []

    def make(uri=None, **config):
        config.setdefault("shutdown_timeout", 1)
        driver = LibvirtDriver(
            LibvirtConfig(
                uri=uri or make_node_uri(tmp_path),
                instances_path=str(tmp_path / "instances"),
                **config,
            ),
            image_cache,
        )
        made.append(driver)
        return driver

    yield make
    for driver in made:
        for info in driver.list_instances().values():
            if info.managed:
                driver.destroy(info.uuid)
        driver.close()


@pytest.fixture
def driver(make_driver):
    return make_driver()


@pytest.fixture
def cached_raw_image(image_cache):
    """An image id already in the cache (raw, 1 MiB)."""
    data = b"\0" * 2**20
    image_id = str(uuid.uuid4())

    async def source():
        yield data

    asyncio.run(
        image_cache.fetch(
            image_id, source(), multihash=hashlib.sha512(data).hexdigest(), disk_format="raw"
        )
    )
    return image_id
