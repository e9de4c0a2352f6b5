"""Messages of one bytes field, framed by hand: the hot path of image transfers.

A streamed image chunk built as a protobuf message is copied into the message, then again
into its encoding, each time into freshly allocated memory of the chunk's size; framing the
field here costs one copy (tag, length, data). `Encoded` carries such bytes through a
handler to `serializer`, which passes them to grpc unchanged and serializes everything
else as usual. The bytes are exactly what protobuf would produce for a message whose only
set field is that one.
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


def serializer(message_class: Any) -> Callable[[Any], bytes]:
    """A response serializer for `message_class` that also accepts `Encoded` values."""
    serialize = message_class.SerializeToString

    def serialize_response(response: Any) -> bytes:
        if type(response) is Encoded:
            return response.wire
        wire: bytes = serialize(response)
        return wire

    return serialize_response
