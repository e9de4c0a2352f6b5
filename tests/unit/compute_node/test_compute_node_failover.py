import pytest

from compute_node import config
from compute_node.failover import ControllerAddresses


def test_streams_start_at_the_first_address_and_go_round_the_list():
    addresses = ControllerAddresses(["a:5001", "b:5001"])
    assert addresses.current == "a:5001"
    assert [addresses.for_new_stream() for _ in range(5)] == [
        "a:5001",
        "b:5001",
        "a:5001",
        "b:5001",
        "a:5001",
    ]
    assert addresses.current == "a:5001"


def test_no_address_is_refused():
    with pytest.raises(ValueError, match="no controller address"):
        ControllerAddresses([])


def test_controllers_replace_controller_and_the_flag_replaces_both(tmp_path):
    path = tmp_path / "compute.toml"
    path.write_text('[compute]\ncontroller = "x:1"\ncontrollers = ["a:1", "b:1"]\n')
    assert config.load(path).controller_addresses == ["a:1", "b:1"]
    path.write_text('[compute]\ncontroller = "x:1"\n')
    assert config.load(path).controller_addresses == ["x:1"]
    flagged = config.load(path, {"compute": {"controllers": ["c:1", "d:1"]}})
    assert flagged.controller_addresses == ["c:1", "d:1"]
