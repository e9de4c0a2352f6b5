"""What the area modules share: proto messages to plain values, results from messages, and
finding a resource by name or ID as the openstack client does."""

import argparse
import dataclasses
import datetime
import re
from collections.abc import Callable, Iterable, Sequence

import grpc
from google.protobuf import timestamp_pb2
from google.protobuf.descriptor import FieldDescriptor

from cli.errors import CliError, LookupRefused, NotFoundError
from cli.formatters import ListResult, ShowResult
from cli.registry import arg

UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I)


def enum_name(descriptor, number: int, *, upper: bool = False, dash: bool = False) -> str | None:
    """`ENDPOINT_INTERFACE_PUBLIC` -> `public` (or `PUBLIC`); the zero value -> None.
    With `dash`, words are joined by dashes (`anti-affinity`), as the openstack client has
    some of them."""
    if number == 0:
        return None
    name = (
        descriptor.values_by_number[number].name
        if number in descriptor.values_by_number
        else str(number)
    )
    prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", descriptor.name).upper() + "_"
    name = name[len(prefix) :] if name.startswith(prefix) else name
    name = name.replace("_", "-") if dash else name
    return name if upper else name.lower()


def enum_number(descriptor, name: str) -> int:
    """The inverse of enum_name: `public` -> ENDPOINT_INTERFACE_PUBLIC's number."""
    prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", descriptor.name).upper() + "_"
    value = descriptor.values_by_name.get(prefix + name.upper().replace("-", "_"))
    if value is None or value.number == 0:
        choices = [enum_name(descriptor, v.number) for v in descriptor.values if v.number]
        raise CliError(f"unknown {descriptor.name} {name!r}; choose from {', '.join(choices)}")
    return value.number


def enum_choices(descriptor, *, dash: bool = False) -> list[str]:
    return [enum_name(descriptor, v.number, dash=dash) for v in descriptor.values if v.number]


def timestamp(value: timestamp_pb2.Timestamp) -> datetime.datetime | None:
    if not value.seconds and not value.nanos:
        return None
    return value.ToDatetime(tzinfo=datetime.UTC)


def _repeated(field: FieldDescriptor) -> bool:
    if hasattr(field, "is_repeated"):  # protobuf 6 and later have no `label`
        return field.is_repeated
    return field.label == FieldDescriptor.LABEL_REPEATED


def plain(message, field: FieldDescriptor, *, upper_enums: bool = False):
    """One field of a message as a plain Python value."""
    value = getattr(message, field.name)
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        return dict(value)
    if _repeated(field):
        if field.message_type is not None:
            return [to_dict(item) for item in value]
        if field.enum_type is not None:
            return [enum_name(field.enum_type, item, upper=upper_enums) for item in value]
        return list(value)
    if field.enum_type is not None:
        return enum_name(field.enum_type, value, upper=upper_enums)
    if field.message_type is not None:
        if field.message_type.full_name == "google.protobuf.Timestamp":
            return timestamp(value)
        return to_dict(value) if message.HasField(field.name) else None
    return value


def to_dict(message, *, upper_enums: bool = False) -> dict:
    """Every field of a message, in declaration order, as plain values."""
    return {
        field.name: plain(message, field, upper_enums=upper_enums)
        for field in message.DESCRIPTOR.fields
    }


def show(
    message,
    *,
    rename: dict | None = None,
    drop: Iterable[str] = (),
    extra: dict | None = None,
    upper_enums: bool = False,
) -> ShowResult:
    """A show result of a message's fields, sorted by name as the openstack client shows."""
    fields = {
        k: v for k, v in to_dict(message, upper_enums=upper_enums).items() if k not in set(drop)
    }
    fields |= extra or {}
    fields = {(rename or {}).get(k, k): v for k, v in fields.items()}
    return ShowResult(dict(sorted(fields.items())))


def fields_of(view: Callable[[object], ShowResult], message_type, *extra: str):
    """The field names `view` shows for a `message_type` (plus `extra` ones it adds only
    sometimes), as a command's `columns`: the view itself decides, on an empty message."""
    names = [*view(message_type()).fields, *extra]
    return lambda args: names


Column = tuple[str, Callable | str]  # heading, and a field name or a function of the item


@dataclasses.dataclass(frozen=True)
class Columns:
    """A list command's columns, and those `--long` adds; getters run only for rows, so the
    headings are known before any call."""

    base: Sequence[Column]
    long: Sequence[Column] = ()

    def chosen(self, args) -> list[Column]:
        return [*self.base, *(self.long if getattr(args, "long", False) else ())]

    def headings(self, args) -> list[str]:
        return [heading for heading, _ in self.chosen(args)]


def listing(items: Iterable, columns: Sequence[Column]) -> ListResult:
    """Rows of `items` under `columns`: (heading, field name or function of the item)."""

    def cell(item, getter):
        if callable(getter):
            return getter(item)
        field = item.DESCRIPTOR.fields_by_name[getter]
        return plain(item, field)

    return ListResult(
        [heading for heading, _ in columns],
        [[cell(item, getter) for _, getter in columns] for item in items],
    )


def find(
    kind: str,
    name_or_id: str,
    *,
    get: Callable[[str], object],
    by_name: Callable[[str], Iterable],
    any_id: bool = False,
):
    """The one resource called `name_or_id`: by ID when it looks like one (a UUID, or
    anything when `any_id`), else by name.

    `get(id)` fetches by ID; `by_name(name)` lists those with that name."""
    try:
        if any_id or UUID.fullmatch(name_or_id):
            try:
                return get(name_or_id)
            except grpc.RpcError as e:
                if e.code() not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                    raise
        matches = list(by_name(name_or_id))
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.PERMISSION_DENIED:
            raise LookupRefused(kind, name_or_id, e) from None
        raise
    if not matches:
        raise NotFoundError(f"no {kind} with name or ID {name_or_id!r}")
    if len(matches) > 1:
        raise CliError(f"more than one {kind} is named {name_or_id!r}; use the ID")
    return matches[0]


def key_value(text: str) -> tuple[str, str]:
    """argparse type of `--property KEY=VALUE`."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, not {text!r}")
    return key, value


def properties_arg(help_text: str):
    """`--property KEY=VALUE`, repeatable, into args.properties."""
    return arg(
        "--property",
        dest="properties",
        type=key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=help_text,
    )


def delete_each(ctx, kind: str, names: Sequence[str], delete: Callable[[str], None]) -> None:
    """Runs `delete(name)` for each name, going on past failures as the openstack client
    does. One name: its error is the command's. Several: a line for each failure, then
    a summary."""
    if len(names) == 1:
        delete(names[0])
        return
    failed = 0
    for name in names:
        try:
            delete(name)
        except grpc.RpcError as e:
            failed += 1
            from cli import rpc_errors

            ctx.stderr.write(f"stratus: cannot delete {kind} {name!r}: {rpc_errors.describe(e)}\n")
        except CliError as e:
            failed += 1
            ctx.stderr.write(f"stratus: cannot delete {kind} {name!r}: {e}\n")
    if failed:
        raise CliError(f"{failed} of {len(names)} {kind}s not deleted")
