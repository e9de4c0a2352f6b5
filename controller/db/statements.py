"""Hand-written statements whose shape changes with each call: inserts of any number of rows,
and statements over a list of ids. Each text is built once per shape and then only executed.

Which SQL is written how (the rule, for every area):
- **peewee queries** by default: they are portable and read like the domain.
- **Prepared queries** (controller.db.prepared) for fixed-shape statements on hot paths: a
  peewee query rendered once per engine, then only executed.
- **Statements built here**, per shape, for hot-path statements whose shape changes per call
  (N rows, N ids): peewee would render them anew each time. Their texts live with the tables
  they touch (e.g. controller/compute/records/statements.py), not with their callers.
"""

from __future__ import annotations

import functools

from controller.db.database import dialect, has_returning, proxy


@functools.lru_cache(maxsize=128)
def _insert(table: str, columns: tuple[str, ...], param: str, returning: str, rows: int = 1) -> str:
    values = ", ".join([f"({', '.join([param] * len(columns))})"] * rows)
    tail = f" RETURNING {returning}" if returning else ""
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}{tail}"


def _params(model, values: dict) -> list:
    fields = model._meta.fields
    return [fields[name].db_value(value) for name, value in values.items()]


def _columns_of(model, values: dict) -> tuple[str, ...]:
    return tuple(model._meta.fields[name].column_name for name in values)


def insert(model, values: dict, returning_id: bool = False):
    """INSERT of one row of `model`, values converted by the model's own fields; returns the
    new row's auto-increment primary key when asked."""
    key = model._meta.primary_key.column_name
    returning = key if returning_id and has_returning() else ""
    cursor = proxy.execute_sql(
        _insert(model._meta.table_name, _columns_of(model, values), proxy.obj.param, returning),
        _params(model, values),
    )
    if not returning_id:
        return None
    return cursor.fetchone()[0] if returning else cursor.lastrowid


def insert_rows(model, rows: list[dict]) -> None:
    """One INSERT of many rows of `model` (the same fields in each): one round trip."""
    text = _insert(
        model._meta.table_name, _columns_of(model, rows[0]), proxy.obj.param, "", len(rows)
    )
    proxy.execute_sql(text, [p for values in rows for p in _params(model, values)])


class OverIds:
    """Named statement templates over a list of ids: in a template, `{ids}` becomes one mark
    per id, `{p}` one mark, `{cases}` a `WHEN ? THEN ?` per id, and `{lock}` FOR UPDATE where
    the engine has row locks. Rows should come in id order, so locking ones lock in one order
    everywhere."""

    def __init__(self, templates: dict[str, str]):
        self._templates = templates
        self._render = functools.lru_cache(maxsize=256)(self._text)

    def _text(self, sqlite: bool, param: str, name: str, count: int) -> str:
        return self._templates[name].format(
            ids=", ".join([param] * count),
            p=param,
            lock="" if sqlite else " FOR UPDATE",
            cases=" ".join([f"WHEN {param} THEN {param}"] * count),
        )

    def execute(self, name: str, ids: list, *params, before: tuple = ()):
        """Statement `name` for these ids: `before` fills the marks ahead of the id list,
        `params` those after it."""
        text = self._render(dialect() == "sqlite", proxy.obj.param, name, len(ids))
        return proxy.execute_sql(text, (*before, *ids, *params))


def bump_counter(name: str, count: int = 1) -> int:
    """Adds `count` to a row of `revision_counter` (row-locked until commit) and returns its
    new value."""
    mark = proxy.obj.param
    bump = f"UPDATE revision_counter SET value = value + {mark} WHERE name = {mark}"
    if has_returning():
        return int(proxy.execute_sql(bump + " RETURNING value", (count, name)).fetchone()[0])
    proxy.execute_sql(bump, (count, name))
    return read_counter(name)


def read_counter(name: str) -> int:
    cursor = proxy.execute_sql(
        f"SELECT value FROM revision_counter WHERE name = {proxy.obj.param}", (name,)
    )
    return int(cursor.fetchone()[0])
