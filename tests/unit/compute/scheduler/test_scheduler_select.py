"""select_hosts end to end over filters and weighers, and the registry that builds them."""

import random

import pytest

from controller.compute.scheduler import (
    GroupSpec,
    HostState,
    RequestSpec,
    Scheduler,
    SchedulerConfig,
)
from controller.compute.scheduler.registry import build_filters, build_weighers


def host(name, **kw):
    base = dict(vcpus_total=8, memory_mb_total=16384, disk_gb_total=200)
    base.update(kw)
    return HostState(host=name, node_id=name, **base)


def spec(**kw):
    base = dict(instance_id="i", project_id="p", vcpus=2, memory_mb=2048, disk_gb=20)
    base.update(kw)
    return RequestSpec(**base)


def test_orders_by_free_ram_and_reports_rejections_per_filter():
    hosts = [
        host("down", up=False),
        host("small", memory_mb_total=1024),
        host("busy", memory_mb_used=10000),
        host("idle"),
        host("off", enabled=False),
    ]
    sel = Scheduler(rng=random.Random(1)).select_hosts(spec(), hosts)
    assert sel.hosts() == ["idle", "busy"]
    assert sel.considered == 5
    assert sel.rejected_count == {"ComputeFilter": 2, "RamFilter": 1}
    assert dict(sel.reasons["ComputeFilter"]) == {
        "down": "compute service down",
        "off": "compute service disabled",
    }
    assert "small" in sel.describe() and "RamFilter rejected 1" in sel.describe()


def test_no_valid_host_keeps_every_reason():
    sel = Scheduler().select_hosts(spec(vcpus=64), [host("a"), host("b")])
    assert sel.candidates == []
    assert sel.rejected_count == {"CoreFilter": 2}
    assert sel.describe().startswith("0 of 2 hosts passed")


def test_negative_multipliers_pack():
    cfg = SchedulerConfig(weight_multipliers={"RAMWeigher": -1.0, "CPUWeigher": -1.0})
    hosts = [host("idle"), host("busy", memory_mb_used=8000, vcpus_used=10)]
    assert Scheduler(cfg).select_hosts(spec(), hosts).hosts() == ["busy", "idle"]
    assert Scheduler().select_hosts(spec(), hosts).hosts() == ["idle", "busy"]


def test_weights_are_normalised_before_combining():
    # RAM differs by megabytes, cores by units: unnormalised, RAM would always win.
    a = host("a", memory_mb_used=100)  # a bit less RAM, many more free cores
    b = host("b", vcpus_used=30)
    cfg = SchedulerConfig(weight_multipliers={"RAMWeigher": 1.0, "CPUWeigher": 2.0})
    sel = Scheduler(cfg).select_hosts(spec(), [a, b])
    assert sel.hosts() == ["a", "b"]
    assert sel.candidates[0].weight == pytest.approx(2.0)
    assert sel.candidates[1].weight == pytest.approx(1.0)


def test_ignore_hosts_are_never_returned():
    sel = Scheduler().select_hosts(spec(ignore_hosts=frozenset({"a"})), [host("a"), host("b")])
    assert sel.hosts() == ["b"]
    assert sel.rejected_count == {"IgnoreHosts": 1}


def test_equal_hosts_are_shuffled_unless_disabled():
    hosts = [host(f"h{i}") for i in range(6)]
    firsts = {
        Scheduler(rng=random.Random(seed)).select_hosts(spec(), hosts).hosts()[0]
        for seed in range(30)
    }
    assert len(firsts) > 1
    cfg = SchedulerConfig(shuffle_best_same_weighed_hosts=False)
    assert Scheduler(cfg).select_hosts(spec(), hosts).hosts() == [h.host for h in hosts]


def test_host_subset_size_draws_first_choice_among_best():
    hosts = [host("best"), host("second", memory_mb_used=100), host("worst", memory_mb_used=9000)]
    cfg = SchedulerConfig(host_subset_size=2)
    firsts = {
        Scheduler(cfg, rng=random.Random(s)).select_hosts(spec(), hosts).hosts()[0]
        for s in range(30)
    }
    assert firsts == {"best", "second"}


def test_anti_affinity_and_soft_anti_affinity():
    hosts = [host("a"), host("b"), host("c", memory_mb_used=4000)]
    hard = GroupSpec("g", "anti-affinity", members_per_host={"a": 1, "b": 1})
    assert Scheduler().select_hosts(spec(group=hard), hosts).hosts() == ["c"]
    soft = GroupSpec("g", "soft-anti-affinity", members_per_host={"a": 1, "b": 1})
    cfg = SchedulerConfig(weight_multipliers={"ServerGroupSoftAntiAffinityWeigher": 10.0})
    assert Scheduler(cfg).select_hosts(spec(group=soft), hosts).hosts()[0] == "c"


def test_consume_updates_the_snapshot_for_the_next_decision():
    h = host("a", memory_mb_total=4096)
    sched = Scheduler()
    h.consume(2, 2048, 20)
    assert sched.select_hosts(spec(), [h]).hosts() == ["a"]
    h.consume(2, 2048, 20)
    assert sched.select_hosts(spec(), [h]).hosts() == []


def test_registry_builds_configured_names_in_order():
    cfg = SchedulerConfig(
        enabled_filters=("RamFilter", "ComputeFilter"),
        weighers=("CPUWeigher",),
        weight_multipliers={"CPUWeigher": -3},
    )
    assert [f.name for f in build_filters(cfg)] == ["RamFilter", "ComputeFilter"]
    [w] = build_weighers(cfg)
    assert (w.name, w.multiplier) == ("CPUWeigher", -3.0)


@pytest.mark.parametrize(
    "cfg",
    [
        SchedulerConfig(enabled_filters=("NoSuchFilter",)),
        SchedulerConfig(weighers=("NoSuchWeigher",)),
        SchedulerConfig(enabled_filters=("RamFilter", "RamFilter")),
        SchedulerConfig(weighers=("RAMWeigher",), weight_multipliers={"CPUWeigher": 2}),
    ],
)
def test_registry_refuses_bad_configuration(cfg):
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        Scheduler(cfg)


def test_config_from_mapping():
    cfg = SchedulerConfig.from_mapping(
        {
            "enabled_filters": ["RamFilter"],
            "max_attempts": "5",
            "cpu_allocation_ratio": "16",
            "weight_multipliers": {"RAMWeigher": "-1"},
        }
    )
    assert cfg.enabled_filters == ("RamFilter",)
    assert (cfg.max_attempts, cfg.cpu_allocation_ratio) == (5, 16.0)
    assert cfg.multiplier("RAMWeigher") == -1.0 and cfg.multiplier("CPUWeigher") == 1.0
    assert SchedulerConfig.from_mapping(None) == SchedulerConfig()
    for bad in ({"nope": 1}, {"max_attempts": 0}, {"ram_allocation_ratio": -1}):
        with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
            SchedulerConfig.from_mapping(bad)


def test_limit_keeps_the_best_candidates_in_order():
    hosts = [host(f"h{i}", memory_mb_used=i * 100) for i in range(20)]
    sched = Scheduler(rng=random.Random(3))
    full = sched.select_hosts(spec(), hosts).hosts()
    assert full == [f"h{i}" for i in range(20)]
    assert sched.select_hosts(spec(), hosts, limit=3).hosts() == ["h0", "h1", "h2"]
    assert sched.select_hosts(spec(), hosts[:2], limit=3).hosts() == ["h0", "h1"]


@pytest.mark.parametrize("n", [5, 40, 400])
def test_rank_is_a_stable_sort_of_the_rotated_order(n):
    """Ties (many here) go in rotated order, whether rank scans for a few or sorts all."""
    from controller.compute.scheduler.selector import rank

    rng = random.Random(n)
    hosts = [host(f"h{i}") for i in range(n)]
    for _ in range(50):
        totals = [rng.choice([0.0, 0.25, 0.5, 1.0]) for _ in range(n)]
        for limit in (1, 3, None):
            cut = random.Random(7).randrange(n)
            rotated = list(range(cut, n)) + list(range(cut))
            expected = sorted(rotated, key=lambda i: -totals[i])[:limit]
            got = rank(
                hosts,
                totals,
                limit=limit,
                host_subset_size=1,
                shuffle_ties=True,
                rng=random.Random(7),
            )
            assert [h.host for h in got] == [f"h{i}" for i in expected]
            assert [h.weight for h in got] == [totals[i] for i in expected]


def _install_plugins(root, entry_points: str, module_source: str) -> None:
    """A package of an operator's own, as pip would leave it: its module and a dist-info
    whose entry_points.txt registers it."""
    (root / "operator_plugins.py").write_text(module_source)
    dist = root / "operator_plugins-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: operator-plugins\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(entry_points)


def test_an_operators_filter_and_weigher_load_by_entry_point(tmp_path, monkeypatch):
    _install_plugins(
        tmp_path,
        (
            "[stratus.scheduler.filters]\nEvenCoresFilter = operator_plugins:EvenCoresFilter\n"
            "[stratus.scheduler.weighers]\nFewerCoresWeigher = operator_plugins:FewerCoresWeigher\n"
            "NotAWeigher = operator_plugins:NotAWeigher\n"
        ),
        (
            "from controller.compute.scheduler.filters import BaseHostFilter\n"
            "from controller.compute.scheduler.weighers import BaseHostWeigher\n"
            "class EvenCoresFilter(BaseHostFilter):\n"
            "    name = 'EvenCoresFilter'\n"
            "    def host_passes(self, host_state, request_spec):\n"
            "        return host_state.vcpus_total % 2 == 0\n"
            "class FewerCoresWeigher(BaseHostWeigher):\n"
            "    name = 'FewerCoresWeigher'\n"
            "    def _weigh_object(self, host_state, request_spec):\n"
            "        return -host_state.vcpus_total\n"
            "class NotAWeigher:\n"
            "    pass\n"
        ),
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = SchedulerConfig(enabled_filters=("EvenCoresFilter",), weighers=("FewerCoresWeigher",))
    sched = Scheduler(cfg)
    hosts = [host("odd", vcpus_total=3), host("big", vcpus_total=8), host("small", vcpus_total=4)]
    assert sched.select_hosts(spec(), hosts).hosts() == ["small", "big"]
    with pytest.raises(ValueError, match=r"NotAWeigher.*not a BaseHostWeigher"):
        Scheduler(SchedulerConfig(weighers=("NotAWeigher",)))
    with pytest.raises(ValueError, match=r"known: .*EvenCoresFilter"):
        Scheduler(SchedulerConfig(enabled_filters=("Missing",)))
