"""Output of show commands (one resource: field/value) and list commands (rows under
columns), in the formats of the openstack client: table, json, yaml, value, and csv for
lists or shell for a single resource. `-c` picks columns, in the order given."""

import csv
import dataclasses
import datetime
import json
import shlex
import unicodedata
from collections.abc import Sequence
from typing import Any, TextIO

import yaml

from cli.errors import UsageError

SHOW_FORMATS = ("table", "json", "yaml", "value", "shell")
LIST_FORMATS = ("table", "json", "yaml", "value", "csv")


@dataclasses.dataclass
class ShowResult:
    """One resource: ordered field names to values."""

    fields: dict[str, Any]


@dataclasses.dataclass
class ListResult:
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]


# -- values ----------------------------------------------------------------------------


def to_data(value: Any) -> Any:
    """A value as JSON and YAML should hold it."""
    if isinstance(value, datetime.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {str(k): to_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_data(v) for v in value]
    return value


def to_text(value: Any) -> str:
    """A value as a table cell or a `value` line shows it."""
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return to_data(value)
    if isinstance(value, dict):
        return ", ".join(f"{k}='{to_text(v)}'" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(to_text(v) for v in value)
    return str(value)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


# -- columns ---------------------------------------------------------------------------


def pick(available: Sequence[str], wanted: Sequence[str] | None) -> list[int]:
    """Indexes of the wanted columns (exact name, else case-insensitive); all when none."""
    if not wanted:
        return list(range(len(available)))
    indexes = []
    for name in wanted:
        matches = [i for i, c in enumerate(available) if c == name] or [
            i for i, c in enumerate(available) if c.lower() == name.lower()
        ]
        if not matches:
            raise UsageError(f"unknown column {name!r}; columns: {', '.join(available)}")
        indexes.append(matches[0])
    return indexes


def check_columns(available: Sequence[str], options) -> None:
    """Refuses, before any call is made, the -c and --sort-column names that the command
    does not have."""
    pick(available, getattr(options, "columns", None))
    pick(available, getattr(options, "sort_columns", None))


def sort_rows(result: ListResult, keys: Sequence[str] | None, descending: bool) -> list:
    rows = list(result.rows)
    for index in reversed(pick(result.columns, keys) if keys else []):
        rows.sort(
            key=lambda row: (row[index] is None, to_text(row[index]).lower()), reverse=descending
        )
    return rows


# -- rendering -------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO) -> None:
    """An ASCII table; a cell may hold several lines."""
    cells = [[str(h).splitlines() or [""] for h in headers]]
    cells += [[(c or "").splitlines() or [""] for c in row] for row in rows]
    widths = [max(_width(line) for row in cells for line in row[i]) for i in range(len(headers))]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+\n"

    def write(row):
        for n in range(max(len(cell) for cell in row)):
            parts = []
            for cell, w in zip(row, widths, strict=True):
                line = cell[n] if n < len(cell) else ""
                parts.append(" " + line + " " * (w - _width(line)) + " ")
            out.write("|" + "|".join(parts) + "|\n")

    out.write(rule)
    write(cells[0])
    out.write(rule)
    for row in cells[1:]:
        write(row)
    if len(cells) > 1:
        out.write(rule)


def render_show(
    result: ShowResult, out: TextIO, fmt: str = "table", columns: Sequence[str] | None = None
) -> None:
    names = list(result.fields)
    chosen = [names[i] for i in pick(names, columns)]
    values = [result.fields[name] for name in chosen]
    if fmt == "table":
        table(
            ["Field", "Value"], [[n, to_text(v)] for n, v in zip(chosen, values, strict=True)], out
        )
    elif fmt == "json":
        json.dump(to_data(dict(zip(chosen, values, strict=True))), out, indent=2)
        out.write("\n")
    elif fmt == "yaml":
        yaml.safe_dump(
            to_data(dict(zip(chosen, values, strict=True))),
            out,
            default_flow_style=False,
            sort_keys=False,
            allow_unicode=True,
        )
    elif fmt == "value":
        for value in values:
            out.write(to_text(value) + "\n")
    elif fmt == "shell":
        for name, value in zip(chosen, values, strict=True):
            variable = "".join(c if c.isalnum() else "_" for c in name)
            out.write(f"{variable}={shlex.quote(to_text(value))}\n")
    else:
        raise UsageError(
            f"unknown format {fmt!r} for this command; formats: {', '.join(SHOW_FORMATS)}"
        )


def render_list(
    result: ListResult,
    out: TextIO,
    fmt: str = "table",
    columns: Sequence[str] | None = None,
    sort_columns: Sequence[str] | None = None,
    descending: bool = False,
) -> None:
    indexes = pick(result.columns, columns)
    headers = [result.columns[i] for i in indexes]
    rows = [[row[i] for i in indexes] for row in sort_rows(result, sort_columns, descending)]
    if fmt == "table":
        table(headers, [[to_text(v) for v in row] for row in rows], out)
    elif fmt == "json":
        json.dump([to_data(dict(zip(headers, row, strict=True))) for row in rows], out, indent=2)
        out.write("\n")
    elif fmt == "yaml":
        yaml.safe_dump(
            [to_data(dict(zip(headers, row, strict=True))) for row in rows],
            out,
            default_flow_style=False,
            sort_keys=False,
            allow_unicode=True,
        )
    elif fmt == "value":
        for row in rows:
            out.write(" ".join(to_text(v) for v in row) + "\n")
    elif fmt == "csv":
        writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows(
            [
                [
                    v if isinstance(v, (int, float)) and not isinstance(v, bool) else to_text(v)
                    for v in row
                ]
                for row in rows
            ]
        )
    else:
        raise UsageError(
            f"unknown format {fmt!r} for this command; formats: {', '.join(LIST_FORMATS)}"
        )


def render(result: Any, out: TextIO, options) -> None:
    """Writes a command's result with the options its parser gave (-f, -c, --sort-column)."""
    if isinstance(result, ShowResult):
        render_show(result, out, options.format, options.columns)
    elif isinstance(result, ListResult):
        render_list(
            result,
            out,
            options.format,
            options.columns,
            getattr(options, "sort_columns", None),
            getattr(options, "sort_descending", False),
        )
