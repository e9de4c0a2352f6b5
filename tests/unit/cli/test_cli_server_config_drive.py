"""`server create --config-drive true|false --user-data FILE --key-name NAME`: what the CLI
sends, against the real grpc.aio server of the `--wait` tests."""

import json

import pytest

from cli.errors import ExitCode
from tests.unit.cli.building_compute import IMAGE_ID
from tests.unit.cli.test_cli_server_wait import run


def create(address, *argv):
    return run(
        address,
        "server",
        "create",
        "web1",
        "--flavor",
        "m1.tiny",
        "--image",
        IMAGE_ID,
        "-f",
        "json",
        *argv,
    )


@pytest.mark.parametrize("flag,sent", [("false", False), ("true", True), ("False", False)])
def test_config_drive_flag_is_sent_as_asked(compute_server, flag, sent):
    servicer, address = compute_server("ACTIVE")
    code, out, err = create(address, "--config-drive", flag)
    assert code == 0, err
    [request] = servicer.created
    assert request.server.HasField("config_drive") and request.server.config_drive is sent
    assert json.loads(out)["config_drive"] is sent


def test_without_the_flag_the_api_decides(compute_server):
    servicer, address = compute_server("ACTIVE")
    code, _out, err = create(address)
    assert code == 0, err
    [request] = servicer.created
    assert not request.server.HasField("config_drive")


def test_user_data_file_and_key_name_are_sent(compute_server, tmp_path):
    servicer, address = compute_server("ACTIVE")
    script = tmp_path / "boot.sh"
    script.write_bytes(b"#!/bin/sh\necho hi\n\xff")
    code, out, err = create(address, "--user-data", str(script), "--key-name", "alice")
    assert code == 0, err
    [request] = servicer.created
    assert request.server.user_data == script.read_bytes()
    assert request.server.key_name == "alice"
    assert "user_data" not in json.loads(out)


def test_a_config_drive_value_other_than_true_or_false_is_a_usage_error(compute_server):
    servicer, address = compute_server("ACTIVE")
    code, _out, err = create(address, "--config-drive", "maybe")
    assert code == ExitCode.USAGE and "--config-drive" in err
    assert servicer.created == []
