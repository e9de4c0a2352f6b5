"""The spawn phases a node logs: written as `name=0.123s` fields and read back the same."""

from compute_node.phases import Phases, parse


def test_fields_round_trip_through_a_log_line():
    phases = Phases()
    with phases.timed("overlay"):
        pass
    with phases.timed("start"):
        pass
    line = f"2026-01-02 03:04:05,678 INFO x: spawned abc: {phases.fields()}"
    assert parse(line) == {name: round(s, 3) for name, s in phases.seconds.items()}


def test_a_step_timed_twice_adds_up_and_a_failing_step_is_still_timed():
    phases = Phases()
    phases.seconds["fetch"] = 1.0
    try:
        with phases.timed("fetch"):
            raise OSError("gone")
    except OSError:
        pass
    assert phases.seconds["fetch"] >= 1.0
    assert list(phases.seconds) == ["fetch"]


def test_parse_skips_words_that_are_not_durations():
    assert parse("a=b c=1.5s d=xs e= 2.0s") == {"c": 1.5}
