"""Claims under contention: many deciders (threads, and separate Placement objects standing in
for controller replicas with their own snapshots) never overcommit a host nor break a hard
anti-affinity group, and never refuse while capacity remains. Runs on SQLite and, with
STRATUS_TEST_DATABASE=postgresql, on PostgreSQL."""

import uuid
from concurrent.futures import ThreadPoolExecutor

import peewee
import pytest

from controller.compute.records.models import Allocation, ServerGroup, ServerGroupMember
from controller.compute.scheduler import RequestSpec, Scheduler, SchedulerConfig
from controller.compute.scheduler.claims import GONE, ClaimRefused, ClaimRequest, claim
from controller.compute.scheduler.host_records import HostRecords
from controller.compute.scheduler.host_state import GroupSpec
from controller.compute.scheduler.placement import NoValidHost, Placement
from controller.db.queries import utcnow
from tests.integration.compute.compute_support import add_hosts


def _replicas(db, n, config=None):
    config = config or SchedulerConfig()
    return [Placement(db, Scheduler(config), HostRecords(config), max_age=60.0) for _ in range(n)]


def _spec(zone, vcpus=1, group=None):
    return RequestSpec(
        instance_id=str(uuid.uuid4()),
        project_id="p",
        vcpus=vcpus,
        memory_mb=128,
        disk_gb=1,
        availability_zone=zone,
        group=group,
    )


def _per_node(db, node_ids):
    def count():
        rows = (
            Allocation.select(Allocation.node_id, peewee.fn.SUM(Allocation.vcpus))
            .where(Allocation.node_id.in_(node_ids))
            .group_by(Allocation.node_id)
            .tuples()
        )
        return dict(rows)

    return db.call(count)


def _assert_exactly_100(db, node_ids, outcomes):
    """Ten hosts of ten cores, one core a server: full, and not one over."""
    assert len([o for o in outcomes if o is not None]) == 100
    usage = _per_node(db, node_ids)
    assert sum(usage.values()) == 100
    assert all(v <= 10 for v in usage.values()), usage


def test_claim_rechecks_capacity_under_the_lock(db):
    _, [host] = add_hosts(db, 1, vcpus=2, cpu_ratio=1.0)
    config = SchedulerConfig()
    records = HostRecords(config)
    req = lambda: ClaimRequest(str(uuid.uuid4()), "p", 2, 128, 1)  # noqa: E731
    db.call(claim, db, records, host["id"], req())
    with pytest.raises(ClaimRefused, match="vCPUs"):
        db.call(claim, db, records, host["id"], req())
    assert _per_node(db, [host["id"]]) == {host["id"]: 2}


def test_disabled_host_refuses_claims(db):
    _, [host] = add_hosts(db, 1, enabled=False)
    with pytest.raises(ClaimRefused, match="disabled"):
        db.call(
            claim,
            db,
            HostRecords(SchedulerConfig()),
            host["id"],
            ClaimRequest(str(uuid.uuid4()), "p", 1, 128, 1),
        )


def test_200_concurrent_decisions_on_capacity_for_100_place_exactly_100(db):
    zone, hosts = add_hosts(db, 10, vcpus=10, cpu_ratio=1.0)
    node_ids = [h["id"] for h in hosts]
    replicas = _replicas(db, 3)

    def place(i):
        try:
            return db.call(replicas[i % 3].place, lambda: _spec(zone))
        except NoValidHost:
            return None

    with ThreadPoolExecutor(8) as pool:  # the pool holds workers + 4 connections
        results = list(pool.map(place, range(200)))
    _assert_exactly_100(db, node_ids, results)


def test_hard_anti_affinity_holds_under_contention(db):
    zone, hosts = add_hosts(db, 4, vcpus=16)
    group_id = str(uuid.uuid4())
    db.call(
        lambda: ServerGroup.create(
            id=group_id,
            name="g",
            project_id=_any_project(),
            user_id="u",
            policy="anti-affinity",
            max_server_per_host=1,
            created_at=utcnow(),
        )
    )
    replicas = _replicas(db, 2)

    def place(i):
        spec_id = str(uuid.uuid4())

        def build():
            from controller.compute.records.allocations import group_members_per_node

            g = GroupSpec(group_id, "anti-affinity", group_members_per_node(group_id), 1)
            s = _spec(zone, group=g)
            s.instance_id = spec_id
            return s

        db.call(lambda: ServerGroupMember.create(group_id=group_id, instance_id=spec_id))
        try:
            return db.call(replicas[i % 2].place, build)
        except NoValidHost:
            return None

    with ThreadPoolExecutor(8) as pool:
        results = [r for r in pool.map(place, range(12)) if r is not None]
    assert len(results) == 4
    assert sorted(r.node_id for r in results) == sorted(h["id"] for h in hosts)


class _SpecsOnly:
    """The claim target of servers that exist only as specs; those in `gone` were deleted."""

    def __init__(self, gone):
        self.gone = set(gone)

    def waiting(self, instance_ids):
        return set(instance_ids) - self.gone

    def record(self, placed):
        pass


def _place_batch(db, placement, specs, gone=()):
    """place_batch for servers that exist only as specs; those in `gone` were deleted."""
    return db.call(placement.place_batch, specs, _SpecsOnly(gone))


def test_concurrent_batches_on_capacity_for_100_place_exactly_100(db):
    zone, hosts = add_hosts(db, 10, vcpus=10, cpu_ratio=1.0)
    node_ids = [h["id"] for h in hosts]
    replicas = _replicas(db, 3)

    def place(i):
        return _place_batch(db, replicas[i % 3], [_spec(zone) for _ in range(20)])

    with ThreadPoolExecutor(6) as pool:
        outcomes = [o for batch in pool.map(place, range(10)) for o in batch]
    # what a batch could not fit is left for place() alone: nothing is refused here
    _assert_exactly_100(db, node_ids, outcomes)


def test_a_batch_counts_what_it_took_itself_on_a_stale_snapshot(db):
    zone, [host] = add_hosts(db, 1, vcpus=4, cpu_ratio=1.0)
    stale = _replicas(db, 1)[0]
    assert _place_batch(db, stale, [_spec(zone)])[0].node_id == host["id"]
    # another replica takes two of the three cores left; this snapshot still sees three
    other = _replicas(db, 1)[0]
    assert all(_place_batch(db, other, [_spec(zone), _spec(zone)]))
    outcomes = _place_batch(db, stale, [_spec(zone) for _ in range(3)])
    assert [o is not None for o in outcomes] == [True, False, False]
    assert _per_node(db, [host["id"]]) == {host["id"]: 4}


def test_a_server_deleted_while_its_batch_was_decided_gets_nothing(db):
    zone, [host] = add_hosts(db, 1, vcpus=4, cpu_ratio=1.0)
    specs = [_spec(zone) for _ in range(3)]
    outcomes = _place_batch(db, _replicas(db, 1)[0], specs, gone={specs[1].instance_id})
    assert outcomes[1] == GONE and outcomes[0] and outcomes[2]
    assert _per_node(db, [host["id"]]) == {host["id"]: 2}


def _any_project():
    from controller.identity.models import Project

    return Project.select(Project.id).first().id
