"""Messages of one bytes field, framed and unframed by hand: the hot path of image transfers.

A streamed image chunk built as a protobuf message is copied into the message, then again
into its encoding, each time into freshly allocated memory of the chunk's size; framing the
field here costs one copy (tag, length, data). `Encoded` carries such bytes through a
handler to `serializer`, which passes them to grpc unchanged and serializes everything
else as usual. The bytes are exactly what protobuf would produce for a message whose only
set field is that one.

The other way, a received upload chunk decoded by protobuf is copied into the message, then
again by every read of the field (the request checks read it too). `OneField` is such a
message taken from the wire directly (`parse_one_field`), for the request types listed in
`RECEIVED_AS_ONE_FIELD`; anything else in the message falls back to protobuf.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_LENGTH_DELIMITED = 2


class Encoded:
    """A message already in its wire form."""

    __slots__ = ("wire",)

    def __init__(self, wire: bytes):
        self.wire = wire


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def bytes_field(number: int, data: bytes) -> Encoded:
    """The encoding of a message whose only set field, `number`, holds `data`."""
    if not data:  # proto3 leaves an empty bytes field out
        return Encoded(b"")
    return Encoded(_varint(number << 3 | _LENGTH_DELIMITED) + _varint(len(data)) + data)


def _read_varint(wire: bytes, pos: int) -> tuple[int, int] | None:
    value = shift = 0
    while pos < len(wire) and shift < 64:
        byte = wire[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return value, pos
        shift += 7
    return None


# Request types whose data chunks are taken from the wire: full name -> the bytes field.
RECEIVED_AS_ONE_FIELD = {"stratus.image.v1.UploadImageDataRequest": "data"}


class OneField:
    """A received message whose only set field is one bytes field, read like the message:
    every other field has its default value."""

    __slots__ = ("_data", "_descriptor", "_name")

    def __init__(self, descriptor: Any, name: str, data: bytes):
        self._descriptor, self._name, self._data = descriptor, name, data

    def __getattr__(self, name: str) -> Any:
        if name == self._name:
            return self._data
        try:
            return self._descriptor.fields_by_name[name].default_value
        except KeyError:
            raise AttributeError(name) from None

    def HasField(self, name: str) -> bool:
        return name == self._name


def parse_one_field(message_class: Any) -> Callable[[bytes], OneField | None] | None:
    """For a type in RECEIVED_AS_ONE_FIELD, a parser returning the message as a `OneField`
    when its encoding is exactly that one field, else None; None for any other type."""
    descriptor = message_class.DESCRIPTOR
    name = RECEIVED_AS_ONE_FIELD.get(descriptor.full_name)
    if name is None:
        return None
    tag = _varint(descriptor.fields_by_name[name].number << 3 | _LENGTH_DELIMITED)

    def parse(wire: bytes) -> OneField | None:
        if not wire.startswith(tag):
            return None
        length = _read_varint(wire, len(tag))
        if length is None or length[1] + length[0] != len(wire):
            return None
        return OneField(descriptor, name, wire[length[1] :])

    return parse


def serializer(message_class: Any) -> Callable[[Any], bytes]:
    """A response serializer for `message_class` that also accepts `Encoded` values."""
    serialize = message_class.SerializeToString

    def serialize_response(response: Any) -> bytes:
        if type(response) is Encoded:
            return response.wire
        wire: bytes = serialize(response)
        return wire

    return serialize_response
