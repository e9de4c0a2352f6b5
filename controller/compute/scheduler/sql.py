"""Hand-written SQL for the hot path's statements whose shape changes with each call: inserts
of any number of rows, statements over a list of ids, and the revision counter (RETURNING
where the engine has it).

peewee builds each query anew (about a millisecond of Python on a small machine); a batch
runs a dozen statements while other requests wait for the interpreter, so each text here is
built once per shape and only executed. Statements of a fixed shape are peewee queries
rendered once instead (controller.db.prepared).
"""
from __future__ import annotations

import functools

import peewee

from controller.db.database import proxy
from controller.compute.scheduler.locks import _is_sqlite


def _returning(database) -> bool:
    """SQLite (3.35+) and PostgreSQL have INSERT/UPDATE ... RETURNING; MySQL has not."""
    return not isinstance(database, peewee.MySQLDatabase)


@functools.lru_cache(maxsize=128)
def _insert(table: str, columns: tuple[str, ...], param: str, returning: str,
            rows: int = 1) -> str:
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
    database = getattr(proxy, "obj", proxy)
    key = model._meta.primary_key.column_name
    returning = key if returning_id and _returning(database) else ""
    cursor = proxy.execute_sql(_insert(model._meta.table_name, _columns_of(model, values),
                                       database.param, returning), _params(model, values))
    if not returning_id:
        return None
    return cursor.fetchone()[0] if returning else cursor.lastrowid


def insert_rows(model, rows: list[dict]) -> None:
    """One INSERT of many rows of `model` (the same fields in each): one round trip."""
    database = getattr(proxy, "obj", proxy)
    text = _insert(model._meta.table_name, _columns_of(model, rows[0]), database.param, "",
                   len(rows))
    proxy.execute_sql(text, [p for values in rows for p in _params(model, values)])


def next_revision(count: int = 1) -> int:
    """Bumps the server revision counter by `count` (row-locked until commit) and returns its
    new value, the last of the `count` revisions taken."""
    database = getattr(proxy, "obj", proxy)
    bump = (f"UPDATE revision_counter SET value = value + {database.param} "
            "WHERE name = 'instance'")
    if _returning(database):
        return proxy.execute_sql(bump + " RETURNING value", (count,)).fetchone()[0]
    proxy.execute_sql(bump, (count,))
    return proxy.execute_sql(
        "SELECT value FROM revision_counter WHERE name = 'instance'").fetchone()[0]


# Statements over a list of ids (a batch of claims): `{ids}` becomes one mark per id. Rows
# come in id order, so locking ones lock in one order everywhere.
_OVER_IDS = {
    "nodes": ("SELECT id, vcpus, memory_mb, disk_gb, cpu_allocation_ratio, ram_allocation_ratio, "
              "disk_allocation_ratio, memory_mb_reserved, enabled FROM compute_node "
              "WHERE id IN ({ids}) ORDER BY id{lock}"),
    "used": ("SELECT node_id, COALESCE(SUM(vcpus), 0), COALESCE(SUM(memory_mb), 0), "
             "COALESCE(SUM(disk_gb), 0) FROM allocation WHERE node_id IN ({ids}) "
             "GROUP BY node_id"),
    # revisions for rows written earlier in the transaction: the counter is taken last
    "number": "UPDATE instance SET revision = CASE id {cases} END WHERE id IN ({ids})",
    # claimed servers: their hosts and revisions
    "placed": ("UPDATE instance SET node_id = CASE id {cases} END, host = CASE id {cases} END, "
               "revision = CASE id {cases} END, task_state = {p}, attempts = attempts + 1, "
               "updated_at = {p} WHERE id IN ({ids})"),
    # the schedule step of each server's latest create, finished on its host
    "scheduled": ("UPDATE instance_action_event SET finish_time = {p}, result = {p}, "
                  "host = CASE (SELECT a.instance_id FROM instance_action a "
                  "WHERE a.id = action_id) {cases} END WHERE event = {p} "
                  "AND finish_time IS NULL AND action_id IN (SELECT MAX(id) FROM "
                  "instance_action WHERE instance_id IN ({ids}) AND action = {p} "
                  "GROUP BY instance_id)"),
    # what a spawn command needs of each server, with the request id it was created (or last
    # acted on) with
    "spawn_fields": ("SELECT i.id, i.name, i.vcpus, i.ram_mb, i.disk_gb, i.image_id, "
                     "(SELECT a.request_id FROM instance_action a WHERE a.instance_id = i.id "
                     "ORDER BY a.id DESC LIMIT 1) FROM instance i WHERE i.id IN ({ids})"),
    # the first step of each server's action just started (its latest of that name)
    "start_events": ("INSERT INTO instance_action_event (action_id, event, host, start_time, "
                     "finish_time, result) SELECT MAX(id), {p}, '', {p}, NULL, {p} "
                     "FROM instance_action WHERE instance_id IN ({ids}) AND action = {p} "
                     "GROUP BY instance_id"),
    # what placement reads of the servers still waiting for a host
    "specs": ("SELECT id, project_id, vcpus, ram_mb, disk_gb, ephemeral_gb, swap_mb, "
              "availability_zone, image_properties, server_group_id FROM instance "
              "WHERE id IN ({ids}) AND deleted_at IS NULL AND task_state = {p}"),
    "lock_waiting": ("SELECT id FROM instance WHERE id IN ({ids}) AND deleted_at IS NULL "
                     "AND task_state = {p} ORDER BY id{lock}"),
}


@functools.lru_cache(maxsize=256)
def _over_ids(sqlite: bool, param: str, name: str, count: int) -> str:
    return _OVER_IDS[name].format(ids=", ".join([param] * count), p=param,
                                  lock="" if sqlite else " FOR UPDATE",
                                  cases=" ".join([f"WHEN {param} THEN {param}"] * count))


def execute_over(name: str, ids: list, *params, before: tuple = ()):
    """Statement `name` of _OVER_IDS for these ids: `before` fills the marks ahead of the id
    list, `params` those after it."""
    database = getattr(proxy, "obj", proxy)
    text = _over_ids(_is_sqlite(database), database.param, name, len(ids))
    return proxy.execute_sql(text, (*before, *ids, *params))
