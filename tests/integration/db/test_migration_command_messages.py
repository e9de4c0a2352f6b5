"""Migration 0403: node commands written as JSON payloads become the messages the node
receives, live ones included, and go back to the same payloads on a downgrade."""

import json
import uuid

import peewee
import pytest

from controller.db import migrate
from controller.db.database import connect
from stratus.node.v1 import node_service_pb2 as pb

IMAGE = {"image_id": "root", "disk_format": "qcow2", "os_hash_value": "ab" * 64, "size": 4096}
PAYLOADS = {
    "spawn": {
        "name": "web",
        "vcpus": 2,
        "memory_mb": 512,
        "disk_gb": 10,
        "metadata": {"a": "b"},
        "image": IMAGE,
        "kernel": {"image_id": "kernel"},
        "kernel_cmdline": "ro",
    },
    "power": {"action": "reboot_hard"},
    "destroy": {},
    "console_output": {"max_bytes": 4096},
}


@pytest.fixture
def engine(database_server, tmp_path):
    if database_server is not None:
        url = database_server.create_database(f"m0403_{uuid.uuid4().hex}")
    else:
        url = f"sqlite:///{tmp_path}/m0403.db"
    database = connect(url, 1)
    with database.connection_context():
        migrate.sync(database, 402)
    yield database
    with database.connection_context():
        migrate.sync(database, 0)
    database.close_all()


def _commands(database, column: str) -> dict:
    with database.connection_context():
        return dict(database.execute_sql(f"SELECT kind, {column} FROM node_command").fetchall())


def test_payloads_become_messages_and_come_back(engine):
    with engine.connection_context():
        for seq, (kind, payload) in enumerate(PAYLOADS.items(), 1):
            engine.execute_sql(
                "INSERT INTO node_command (id, node_id, instance_id, kind, payload, request_id, "
                "state, deliveries, created_at, expires_at) VALUES "
                f"({', '.join([engine.param] * 10)})",
                (
                    f"c{seq}",
                    "n",
                    "i",
                    kind,
                    json.dumps(payload),
                    "r",
                    "pending",
                    0,
                    "2026-01-01 00:00:00",
                    "2026-01-01 00:10:00",
                ),
            )
        migrate.sync(engine, 403)
    messages = {
        kind: pb.Command.FromString(bytes(body)) for kind, body in _commands(engine, "body").items()
    }
    spawn = messages["spawn"].spawn
    assert (spawn.name, spawn.vcpus, spawn.memory_mb, spawn.disk_gb) == ("web", 2, 512, 10)
    assert spawn.image == pb.ImageRef(**IMAGE) and spawn.kernel.image_id == "kernel"
    assert dict(spawn.metadata) == {"a": "b"} and spawn.kernel_cmdline == "ro"
    assert messages["power"].power.operation == pb.POWER_OPERATION_REBOOT_HARD
    assert messages["destroy"].HasField("destroy")
    assert messages["console_output"].console_output.max_bytes == 4096
    with engine.connection_context():
        assert "payload" not in {c.name for c in engine.get_columns("node_command")}
        migrate.sync(engine, 402)
    back = {kind: json.loads(text) for kind, text in _commands(engine, "payload").items()}
    assert back["power"] == PAYLOADS["power"] and back["destroy"] == {}
    assert back["console_output"] == PAYLOADS["console_output"]
    restored = back["spawn"]
    assert int(restored["image"]["size"]) == 4096 and restored["kernel"] == {"image_id": "kernel"}
    assert {k: v for k, v in restored.items() if k != "image"} == {
        k: v for k, v in PAYLOADS["spawn"].items() if k != "image"
    }


def test_a_database_without_commands_upgrades_and_downgrades(engine):
    with engine.connection_context():
        assert migrate.sync(engine, 403) == ["applied 0403 command_messages"]
        assert migrate.sync(engine, 402) == ["reverted 0403 command_messages"]
        with pytest.raises(peewee.DatabaseError):
            engine.execute_sql("SELECT body FROM node_command")
