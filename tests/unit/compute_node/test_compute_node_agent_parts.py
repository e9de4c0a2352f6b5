"""Small parts of the agent: backoff, journal, configuration."""

import random

import pytest

from compute_node import config
from compute_node.backoff import Backoff
from compute_node.journal import DONE, QUEUED, STARTED, Journal


def test_backoff_grows_exponentially_with_full_jitter_and_resets():
    backoff = Backoff(1.0, 30.0, rng=random.Random(7))
    ceilings = [1, 2, 4, 8, 16, 30, 30]
    delays = [backoff.next_delay() for _ in ceilings]
    assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len(set(delays)) == len(delays)  # jittered, not a fixed schedule
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_journal_records_arrival_start_then_result_and_survives_reopening(tmp_path):
    path = str(tmp_path / "journal.db")
    journal = Journal(path, boot_id="a", clock=lambda: 100.0)
    assert journal.receive("c1", "i1") is None
    again = journal.receive("c1", "i1")
    assert (again.state, again.boot_id, again.result) == (QUEUED, "a", None)
    journal.close()
    journal = Journal(path, boot_id="b", clock=lambda: 100.0)
    journal.start("c1")  # queued by run a, started by run b
    started = journal.receive("c1", "i1")
    assert (started.state, started.boot_id) == (STARTED, "b")
    journal.finish("c1", b"result")
    journal.close()
    reopened = Journal(path, boot_id="c", clock=lambda: 200.0)
    entry = reopened.receive("c1", "i1")
    assert (entry.state, entry.result) == (DONE, b"result")
    assert reopened.prune(150.0) == 1 and reopened.get("c1") is None


def test_config_file_then_flags(tmp_path):
    path = tmp_path / "compute.toml"
    path.write_text(
        '[compute]\nhost_name = "Node1.Example"\ncontroller = "c:1"\n'
        '[libvirt]\nuri = "test:///default"\nshutdown_timeout = 5\n'
    )
    cfg = config.load(path, {"compute": {"controller": "d:2", "state_dir": None}})
    assert cfg.host_name == "node1.example"
    assert cfg.compute.controller == "d:2"
    assert cfg.libvirt.uri == "test:///default" and cfg.libvirt.shutdown_timeout == 5.0
    assert cfg.path("journal.db").endswith("/var/lib/stratus/journal.db")


@pytest.mark.parametrize(
    "text,message",
    [
        ("[compute]\nhostname = 'x'\n", "unknown option"),
        ("[computer]\n", "unknown section"),
        ("[compute]\nconcurrency = 'many'\n", r"\[compute\] concurrency must be of type int"),
        ("[compute\n", "compute.toml"),
        (f"[console]\nsocket_dir = '/run/{'x' * 60}'\n", "socket_dir is longer than 63 bytes"),
    ],
)
def test_bad_configuration_is_refused(tmp_path, text, message):
    path = tmp_path / "compute.toml"
    path.write_text(text)
    with pytest.raises(config.ConfigError, match=message):
        config.load(path)


def test_a_named_missing_file_is_an_error(tmp_path):
    with pytest.raises(config.ConfigError, match=r"absent\.toml does not exist"):
        config.load(tmp_path / "absent.toml")
