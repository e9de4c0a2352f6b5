"""Node commands keep the message the node receives (`stratus.node.v1.Command` less its ids,
serialized) instead of a JSON payload the conductor translated at each delivery, so the
command's schema exists once. Commands written before are converted, live ones included:
they are still delivered after the upgrade.

A reaping destroy no longer says so in its payload: its server is deleted or unknown, which
is what keeps its result from touching a server.
"""

import json

from google.protobuf import json_format

from stratus.node.v1 import node_service_pb2 as pb

# The power operations under the compute API's action names, as the payloads named them.
_OPERATIONS = {
    "stop": pb.POWER_OPERATION_STOP,
    "start": pb.POWER_OPERATION_START,
    "reboot": pb.POWER_OPERATION_REBOOT_SOFT,
    "reboot_hard": pb.POWER_OPERATION_REBOOT_HARD,
    "pause": pb.POWER_OPERATION_PAUSE,
    "unpause": pb.POWER_OPERATION_UNPAUSE,
    "suspend": pb.POWER_OPERATION_SUSPEND,
    "resume": pb.POWER_OPERATION_RESUME,
}
_ACTIONS = {operation: name for name, operation in _OPERATIONS.items()}


def _message(kind: str, payload: dict) -> bytes:
    command = pb.Command()
    if kind == "power":
        command.power.operation = _OPERATIONS[payload["action"]]
        if payload.get("shutdown_timeout") is not None:
            command.power.shutdown_timeout_seconds = int(payload["shutdown_timeout"])
    elif kind == "destroy":
        command.destroy.SetInParent()
    else:  # spawn and console_output payloads had the message's own field names
        json_format.ParseDict(payload, getattr(command, kind))
    return command.SerializeToString()


def _payload(kind: str, body: bytes) -> dict:
    command = pb.Command.FromString(bytes(body))
    if kind == "power":
        payload = {"action": _ACTIONS[command.power.operation]}
        if command.power.HasField("shutdown_timeout_seconds"):
            payload["shutdown_timeout"] = command.power.shutdown_timeout_seconds
        return payload
    if kind == "destroy":
        return {}
    return json_format.MessageToDict(getattr(command, kind), preserving_proto_field_name=True)


def _convert(m, source: str, target: str, convert) -> None:
    rows = m.engine.execute_sql(f"SELECT seq, kind, {source} FROM node_command").fetchall()
    update = f"UPDATE node_command SET {target} = {m.engine.param} WHERE seq = {m.engine.param}"
    for seq, kind, value in rows:
        m.engine.execute_sql(update, (convert(kind, value), seq))


def upgrade(m):
    m.sql("ALTER TABLE node_command ADD COLUMN body {blob}")
    _convert(m, "payload", "body", lambda kind, text: _message(kind, json.loads(text)))
    m.sql("ALTER TABLE node_command DROP COLUMN payload")


def downgrade(m):
    m.sql("ALTER TABLE node_command ADD COLUMN payload {json}")
    _convert(
        m, "body", "payload", lambda kind, body: json.dumps(_payload(kind, body), sort_keys=True)
    )
    m.sql("ALTER TABLE node_command DROP COLUMN body")
