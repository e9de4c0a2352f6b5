"""SnapshotSelection decides as select_hosts does, decision after decision, while the batch
it serves consumes hosts (it re-evaluates only the consumed host per request shape)."""

import copy
import random

from controller.compute.scheduler import HostState, ImageProps, RequestSpec, Scheduler
from controller.compute.scheduler.shapes import SnapshotSelection


def _hosts(rng):
    return [
        HostState(
            host=f"h{i}",
            node_id=f"h{i}",
            availability_zone=rng.choice(["a", "b"]),
            up=rng.random() > 0.1,
            vcpus_total=8,
            memory_mb_total=16384,
            memory_mb_used=rng.choice([0, 2048, 8192, 14336]),
            disk_gb_total=200,
            supported_instances=(("x86_64", "qemu"),),
        )
        for i in range(40)
    ]


def _specs(rng):
    shapes = [
        dict(vcpus=2, memory_mb=2048, disk_gb=20),
        dict(vcpus=4, memory_mb=4096, disk_gb=40, availability_zone="a"),
        dict(vcpus=1, memory_mb=1024, disk_gb=10, ignore_hosts=frozenset({"h1", "h2"})),
        dict(vcpus=1, memory_mb=512, disk_gb=1, image=ImageProps(architecture="aarch64")),
    ]
    return [
        RequestSpec(instance_id=str(n), project_id="p", **rng.choice(shapes)) for n in range(120)
    ]


def test_candidates_match_select_hosts_while_hosts_fill_up():
    rng = random.Random(7)
    hosts, specs = _hosts(rng), _specs(rng)
    full = Scheduler(rng=random.Random(3))
    cached = SnapshotSelection(Scheduler(rng=random.Random(3)), copy.deepcopy(hosts))
    placed = 0
    for spec in specs:
        expected = full.select_hosts(spec, hosts, limit=3).candidates
        got = cached.candidates(spec, 3)
        assert [(c.host, c.weight) for c in got] == [(c.host, c.weight) for c in expected]
        if expected:
            placed += 1
            expected[0].host_state.consume(spec.vcpus, spec.memory_mb, spec.disk_gb)
            cached.consume(got[0].host_state, spec.vcpus, spec.memory_mb, spec.disk_gb)
    # the run reached hosts refusing for capacity, and requests nothing fits
    assert 0 < placed < len(specs)
