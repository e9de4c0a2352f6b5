"""Placing servers together (placing.schedule_batch, as the BuildQueue hands them over):
what fits is claimed, what fits nowhere is refused together, with its fault and its action
ended, and a server deleted meanwhile is left as it is."""

import pytest

from controller.compute.api import creates, servers
from controller.compute.api.caller import Caller
from controller.compute.api.quota_rules import DEFAULT_LIMITS
from controller.compute.api.quotas import Quotas
from controller.compute.conductor import placing
from controller.compute.records import lifecycle
from controller.compute.records.models import Allocation, Instance, InstanceAction
from controller.compute.scheduler.placement import Placed
from tests.integration.compute.compute_support import add_hosts

# servers placed and recorded on their hosts, with no spawn commands (no agent runs them)
_PLACEMENT_ONLY = placing.PlacedServers(lambda placed: None)


@pytest.fixture
def recorded(compute, cloud, db, image_lookup):
    """Servers recorded as CreateServer records them, not yet handed to the BuildQueue."""
    t = cloud.tenant()
    compute.unlimited(t.project_id)
    quotas = Quotas(db, DEFAULT_LIMITS, servers.count_for_quota)

    def record(flavor, image, zone, count):
        caller = Caller(t.user_id, t.project_id)
        items = [
            (
                caller,
                servers.ServerRequest(
                    name=f"s{n}", flavor_id=flavor.id, image_id=image, availability_zone=zone
                ),
                "",
            )
            for n in range(count)
        ]
        return [
            row.id
            for row, _ in db.call(
                creates.create_batch, db, quotas, lambda *_: True, image_lookup, items
            )
        ]

    return record


def test_what_fits_is_placed_and_the_rest_refused_together(compute, controller, db, recorded):
    zone, _ = add_hosts(db, 2, vcpus=2, cpu_ratio=1.0)
    ids = recorded(compute.flavor(vcpus=1), compute.image(), zone, 6)
    gone = ids.pop()
    db.call(
        lambda: Instance.update(deleted_at=Instance.created_at).where(Instance.id == gone).execute()
    )
    placement = controller.app.compute_placement
    refused_before = placement.stats.refused
    results = db.call(
        placing.schedule_batch, db, placement, _PLACEMENT_ONLY, [(i, ()) for i in [*ids, gone]]
    )
    placed = [i for i, r in zip(ids, results[:-1], strict=True) if isinstance(r, Placed)]
    refused = [i for i, r in zip(ids, results[:-1], strict=True) if r is None]
    assert (len(placed), len(refused), results[-1]) == (4, 1, None)
    assert placement.stats.refused == refused_before + 1
    rows = db.call(lambda: {r.id: r for r in Instance.select().where(Instance.id.in_(ids))})
    for i in refused:
        assert (rows[i].vm_state, rows[i].task_state) == ("error", None)
        assert (rows[i].fault_code, rows[i].fault_message) == (500, lifecycle.NO_VALID_HOST)
    action = db.call(lambda: InstanceAction.get(InstanceAction.instance_id == refused[0]))
    assert (action.result, action.message) == ("error", lifecycle.NO_VALID_HOST)
    assert action.finish_time is not None
    # every change carried a revision of its own
    assert len({rows[i].revision for i in ids}) == len(ids)
    assert (
        db.call(lambda: Allocation.select().where(Allocation.instance_id.in_([*ids, gone])).count())
        == 4
    )
    deleted = db.call(lambda: Instance.get_by_id(gone))
    assert (deleted.vm_state, deleted.fault_message) == ("building", None)


def test_a_refusal_leaves_a_server_placed_meanwhile_as_it_is(compute, controller, db, recorded):
    """Another decider placed one of the servers between the selection that found no host
    and the refusal: only the one still waiting goes to ERROR."""
    zone, _ = add_hosts(db, 1, vcpus=1, cpu_ratio=1.0)
    placed, waiting = recorded(compute.flavor(vcpus=1), compute.image(), zone, 2)
    placement = controller.app.compute_placement
    [result] = db.call(placing.schedule_batch, db, placement, _PLACEMENT_ONLY, [(placed, ())])
    assert isinstance(result, Placed)

    def refuse():
        with db.write_transaction():
            lifecycle.no_valid_host([placed, waiting])

    db.call(refuse)
    rows = db.call(
        lambda: {r.id: r for r in Instance.select().where(Instance.id.in_([placed, waiting]))}
    )
    assert (rows[placed].vm_state, rows[placed].task_state) == ("building", "spawning")
    assert rows[waiting].vm_state == "error"
    assert db.call(lambda: Allocation.select().where(Allocation.instance_id == placed).count()) == 1
