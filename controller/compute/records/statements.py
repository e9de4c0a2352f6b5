"""The hot path's statements on the compute tables whose shape changes with each call
(statements over N ids, the revision counter): see controller/db/statements.py for the rule
on which SQL is written how."""

from __future__ import annotations

from controller.db.statements import OverIds, bump_counter


def next_revision(count: int = 1) -> int:
    """Bumps the server revision counter by `count` (row-locked until commit) and returns its
    new value, the last of the `count` revisions taken."""
    return bump_counter("instance", count)


# Statements over a list of ids (a batch of claims): `{ids}` becomes one mark per id. Rows
# come in id order, so locking ones lock in one order everywhere.
OVER_IDS = OverIds(
    {
        "nodes": (
            "SELECT id, vcpus, memory_mb, disk_gb, cpu_allocation_ratio, ram_allocation_ratio, "
            "disk_allocation_ratio, memory_mb_reserved, enabled FROM compute_node "
            "WHERE id IN ({ids}) ORDER BY id{lock}"
        ),
        "used": (
            "SELECT node_id, COALESCE(SUM(vcpus), 0), COALESCE(SUM(memory_mb), 0), "
            "COALESCE(SUM(disk_gb), 0) FROM allocation WHERE node_id IN ({ids}) "
            "GROUP BY node_id"
        ),
        # revisions for rows written earlier in the transaction: the counter is taken last
        "number": "UPDATE instance SET revision = CASE id {cases} END WHERE id IN ({ids})",
        # claimed servers: their hosts and revisions
        "placed": (
            "UPDATE instance SET node_id = CASE id {cases} END, host = CASE id {cases} END, "
            "revision = CASE id {cases} END, task_state = {p}, attempts = attempts + 1, "
            "updated_at = {p} WHERE id IN ({ids})"
        ),
        # the schedule step of each server's latest create, finished on its host
        "scheduled": (
            "UPDATE instance_action_event SET finish_time = {p}, result = {p}, "
            "host = CASE (SELECT a.instance_id FROM instance_action a "
            "WHERE a.id = action_id) {cases} END WHERE event = {p} "
            "AND finish_time IS NULL AND action_id IN (SELECT MAX(id) FROM "
            "instance_action WHERE instance_id IN ({ids}) AND action = {p} "
            "GROUP BY instance_id)"
        ),
        # the first step of each server's action just started (its latest of that name)
        "start_events": (
            "INSERT INTO instance_action_event (action_id, event, host, start_time, "
            "finish_time, result) SELECT MAX(id), {p}, '', {p}, NULL, {p} "
            "FROM instance_action WHERE instance_id IN ({ids}) AND action = {p} "
            "GROUP BY instance_id"
        ),
        # what placement reads of the servers still waiting for a host
        "specs": (
            "SELECT id, project_id, vcpus, ram_mb, disk_gb, ephemeral_gb, swap_mb, "
            "availability_zone, image_properties, server_group_id FROM instance "
            "WHERE id IN ({ids}) AND deleted_at IS NULL AND task_state = {p}"
        ),
        "lock_waiting": (
            "SELECT id FROM instance WHERE id IN ({ids}) AND deleted_at IS NULL "
            "AND task_state = {p} ORDER BY id{lock}"
        ),
    }
)
