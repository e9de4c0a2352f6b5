"""Hypothesis strategies for any protobuf message, read from its descriptor, and for raw bytes.

Values mix the valid and the hostile: real ids and names of the world (so a request gets past
id validation and reaches the database), long strings, NUL and control characters, every
integer type's limits, enum numbers no enum has, timestamps and durations outside their valid
range, nested messages. Raw payloads are what no client library would send: garbage,
truncated or bit-flipped serializations, and string fields holding invalid UTF-8.
"""

from __future__ import annotations

from google.protobuf import descriptor as d
from google.protobuf import message_factory
from hypothesis import strategies as st

MAX_DEPTH = 3
F = d.FieldDescriptor

_INT_RANGES = {
    F.TYPE_INT32: (-(2**31), 2**31 - 1),
    F.TYPE_SINT32: (-(2**31), 2**31 - 1),
    F.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    F.TYPE_INT64: (-(2**63), 2**63 - 1),
    F.TYPE_SINT64: (-(2**63), 2**63 - 1),
    F.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    F.TYPE_UINT32: (0, 2**32 - 1),
    F.TYPE_FIXED32: (0, 2**32 - 1),
    F.TYPE_UINT64: (0, 2**64 - 1),
    F.TYPE_FIXED64: (0, 2**64 - 1),
}


def integers(field_type: int) -> st.SearchStrategy[int]:
    low, high = _INT_RANGES[field_type]
    edges = [
        v
        for v in (low, high, 0, 1, -1, 2**31 - 1, 2**31, 2**62, -(2**62), 10**9)
        if low <= v <= high
    ]
    return st.one_of(
        st.sampled_from(edges),
        st.integers(max(low, -1000), min(high, 1000)),
        st.integers(low, high),
    )


def strings(known: list[str]) -> st.SearchStrategy[str]:
    hostile = st.characters(codec="utf-8", categories=["Cc", "Cf", "Zs", "Zl", "Zp", "So"])
    return st.one_of(
        st.sampled_from(known) if known else st.just(""),
        st.just(""),
        st.text(max_size=24),
        st.text(alphabet=hostile, max_size=24),
        st.sampled_from(known or [""]).map(lambda s: s + "\x00"),
        st.sampled_from(known or [""]).map(str.upper),
        st.sampled_from([256, 1025, 4097, 65_537, 70_000]).map(lambda n: "x" * n),
        st.uuids().map(str),
    )


def _scalar(field: d.FieldDescriptor, known: list[str]) -> st.SearchStrategy:
    t = field.type
    if t == F.TYPE_STRING:
        return strings(known)
    if t == F.TYPE_BYTES:
        return st.binary(max_size=2048)
    if t == F.TYPE_BOOL:
        return st.booleans()
    if t == F.TYPE_DOUBLE:
        return st.floats()
    if t == F.TYPE_FLOAT:
        return st.floats(width=32)
    if t == F.TYPE_ENUM:
        numbers = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(numbers), st.integers(-(2**31), 2**31 - 1))
    return integers(t)


SECONDS_AND_NANOS = ("google.protobuf.Timestamp", "google.protobuf.Duration")


def _field_names(descriptor: d.Descriptor, depth: int = 0) -> set[str]:
    """Every field name in a message and the messages inside it: update masks name them."""
    names = {f.name for f in descriptor.fields}
    if depth < MAX_DEPTH:
        for f in descriptor.fields:
            if f.message_type is not None:
                names |= _field_names(f.message_type, depth + 1)
    return names


def _field_values(field: d.FieldDescriptor, known: list[str], depth: int):
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        key = field.message_type.fields_by_name["key"]
        value = field.message_type.fields_by_name["value"]
        small = st.dictionaries(_scalar(key, known), _value(value, known, depth + 1), max_size=4)
        if key.type != F.TYPE_STRING or value.type != F.TYPE_STRING:
            return small
        return small | st.dictionaries(
            st.text(max_size=8), st.just("v"), min_size=100, max_size=140
        )
    single = _value(field, known, depth)
    if field.is_repeated:
        return st.lists(single, max_size=4) | st.lists(single, min_size=100, max_size=130)
    return single


def _value(field: d.FieldDescriptor, known: list[str], depth: int):
    if field.message_type is not None:
        return _fields(field.message_type, known, depth + 1)
    return _scalar(field, known)


def _fields(descriptor: d.Descriptor, known: list[str], depth: int) -> st.SearchStrategy[dict]:
    if depth > MAX_DEPTH:
        return st.just({})
    if descriptor.full_name in SECONDS_AND_NANOS:  # every int64 of seconds, nanos any int32
        return st.fixed_dictionaries(
            {}, optional={"seconds": integers(F.TYPE_INT64), "nanos": integers(F.TYPE_INT32)}
        )
    return st.fixed_dictionaries(
        {},
        optional={
            f.name: st.deferred(lambda f=f: _field_values(f, known, depth))
            for f in descriptor.fields
        },
    )


def _fill(message, values: dict):
    for name, value in values.items():
        field = message.DESCRIPTOR.fields_by_name[name]
        target = getattr(message, name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            for k, v in value.items():
                if value_field.message_type is not None:
                    _fill(target[k], v)
                else:
                    target[k] = v
        elif field.is_repeated:
            for item in value:
                if field.message_type is not None:
                    _fill(target.add(), item)
                else:
                    target.append(item)
        elif field.message_type is not None:
            target.SetInParent()
            _fill(target, value)
        else:
            setattr(message, name, value)
    return message


def messages(descriptor: d.Descriptor, known: list[str]) -> st.SearchStrategy:
    cls = message_factory.GetMessageClass(descriptor)
    names = known + sorted(_field_names(descriptor))
    return _fields(descriptor, names, 0).map(lambda values: _fill(cls(), values))


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string_fields(descriptor: d.Descriptor) -> list[int]:
    return [f.number for f in descriptor.fields if f.type == F.TYPE_STRING] or [1]


INVALID_UTF8 = [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"ok\xfe\xfe", b"\xf4\x90\x80\x80"]


def raw_payloads(descriptor: d.Descriptor, known: list[str]) -> st.SearchStrategy[bytes]:
    """Bytes a deserializer must refuse or read, never crash on."""
    valid = messages(descriptor, known).map(lambda m: m.SerializeToString())

    def bad_utf8(data):
        body, number, junk = data
        return body + _varint(number << 3 | 2) + _varint(len(junk)) + junk

    def cut(data):
        body, at = data
        return body[: at % max(len(body), 1)] if body else b"\x0a\x05ab"

    def flip(data):
        body, at, bit = data
        if not body:
            return b"\xff"
        mutated = bytearray(body)
        mutated[at % len(body)] ^= 1 << bit
        return bytes(mutated)

    return st.one_of(
        st.binary(max_size=256),
        st.tuples(
            valid, st.sampled_from(_string_fields(descriptor)), st.sampled_from(INVALID_UTF8)
        ).map(bad_utf8),
        st.tuples(valid, st.integers(0, 4096)).map(cut),
        st.tuples(valid, st.integers(0, 4096), st.integers(0, 7)).map(flip),
        st.sampled_from(
            [
                b"\x0a\xff\xff\xff\xff\x0f",
                b"\x08" + b"\xff" * 11,
                b"\x0f",
                b"\x12\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",
            ]
        ),
    )
