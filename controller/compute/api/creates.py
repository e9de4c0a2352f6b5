"""CreateServer's database work for the creates waiting together (the servicer's Batcher):
each one's references and image checks (each distinct one asked once), then one transaction
that records every one that passed (servers.create_many)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from controller.compute.api import flavors, hosts, images, keypairs, server_groups, servers
from stratus_common import errors

log = logging.getLogger(__name__)

# Creates one transaction records at most: bounds the time the write lock is held.
MAX_BATCH = 32


class _Answers:
    """Each distinct lookup once per batch: creates waiting together mostly name the same
    flavor and image, and every statement costs the batch a turn of the interpreter."""

    def __init__(self):
        self._known: dict[tuple, object] = {}

    def get(self, key: tuple, lookup: Callable[[], object]):
        if key not in self._known:
            self._known[key] = lookup()  # a lookup that raises is asked again next time
        return self._known[key]


def references(caller, req: servers.ServerRequest, is_up, answers: _Answers):
    """(flavor, public key, server group) a request names; INVALID_ARGUMENT or NOT_FOUND
    when one is missing or not the caller's."""
    try:
        flavor = answers.get(
            ("flavor", req.flavor_id, caller.project_id, caller.is_admin),
            lambda: flavors.get(req.flavor_id, caller),
        )
    except errors.NotFound:
        raise errors.InvalidArgument(
            "server.flavor_id", "no such flavor", reason="FLAVOR_NOT_FOUND"
        ) from None
    key = ""
    if req.key_name:
        try:
            key = keypairs.get(caller, req.key_name).public_key
        except errors.NotFound:
            raise errors.InvalidArgument(
                "server.key_name", "no such key pair", reason="KEY_PAIR_NOT_FOUND"
            ) from None
    group = None
    if req.server_group_id:
        group = server_groups.get(caller, req.server_group_id)
        if group.project_id != caller.project_id:
            raise errors.NotFound(
                f"server group {group.id} not found", reason="SERVER_GROUP_NOT_FOUND"
            )
    if req.availability_zone:
        zones = answers.get(("zones",), lambda: {z for z, _, _ in hosts.availability_zones(is_up)})
        if req.availability_zone not in zones:
            raise errors.InvalidArgument(
                "server.availability_zone", "no such zone", reason="AVAILABILITY_ZONE_NOT_FOUND"
            )
    return flavor, key, group


def create_batch(db, quotas, is_up, image_lookup: images.ImageLookup, items: list) -> list:
    """Per item, (caller, ServerRequest, request_id): (server, created) or the error for that
    caller. Should the shared transaction fail, each is recorded alone, so one bad create
    cannot fail the others."""
    results: list = [None] * len(items)
    news: dict[int, servers.NewServer] = {}
    answers = _Answers()
    for i, (caller, req, request_id) in enumerate(items):
        try:
            flavor, key, group = references(caller, req, is_up, answers)
            image = answers.get(
                ("image", req.image_id, caller.project_id, caller.is_admin),
                functools.partial(image_lookup, req.image_id, caller.project_id, caller.is_admin),
            )
            props = images.check_bootable(image, req.image_id, flavor)
        except errors.StratusError as error:
            results[i] = error
            continue
        news[i] = servers.NewServer(caller, req, request_id, flavor, props, key, group)
    try:
        done = servers.create_many(db, quotas, list(news.values()))
    except Exception:
        log.exception("recording %d servers together failed; recording them one by one", len(news))
        done = [_alone(db, quotas, new) for new in news.values()]
    for i, result in zip(news, done, strict=True):
        results[i] = result
    return results


def _alone(db, quotas, new: servers.NewServer):
    try:
        return servers.create_many(db, quotas, [new])[0]
    except Exception as error:  # noqa: BLE001 - this one's own failure, for its caller
        return error
