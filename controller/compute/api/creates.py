"""CreateServer's database work for the creates waiting together (the servicer's Batcher):
each one's references and image checks, then one transaction that records every one that
passed (servers.create_many)."""
from __future__ import annotations

import logging

from controller import errors
from controller.compute.api import flavors, hosts, images, keypairs, server_groups, servers

log = logging.getLogger(__name__)

# Creates one transaction records at most: bounds the time the write lock is held.
MAX_BATCH = 32


def references(caller, req: servers.ServerRequest, is_up):
    """(flavor, public key, server group) a request names; INVALID_ARGUMENT or NOT_FOUND
    when one is missing or not the caller's."""
    try:
        flavor = flavors.get(req.flavor_id, caller)
    except errors.NotFound:
        raise errors.InvalidArgument("server.flavor_id", "no such flavor",
                                     reason="FLAVOR_NOT_FOUND") from None
    key = ""
    if req.key_name:
        try:
            key = keypairs.get(caller, req.key_name).public_key
        except errors.NotFound:
            raise errors.InvalidArgument("server.key_name", "no such key pair",
                                         reason="KEY_PAIR_NOT_FOUND") from None
    group = None
    if req.server_group_id:
        group = server_groups.get(caller, req.server_group_id)
        if group.project_id != caller.project_id:
            raise errors.NotFound(f"server group {group.id} not found",
                                  reason="SERVER_GROUP_NOT_FOUND")
    if req.availability_zone:
        zones = {z for z, _, _ in hosts.availability_zones(is_up)}
        if req.availability_zone not in zones:
            raise errors.InvalidArgument("server.availability_zone", "no such zone",
                                         reason="AVAILABILITY_ZONE_NOT_FOUND")
    return flavor, key, group


def create_batch(db, quotas, is_up, items: list) -> list:
    """Per item, (caller, ServerRequest, request_id, image info): (server, created) or the
    error for that caller. Should the shared transaction fail, each is recorded alone, so one
    bad create cannot fail the others."""
    results: list = [None] * len(items)
    news: dict[int, servers.NewServer] = {}
    for i, (caller, req, request_id, image) in enumerate(items):
        try:
            flavor, key, group = references(caller, req, is_up)
            props = images.check_bootable(image, req.image_id, flavor)
        except errors.StratusError as error:
            results[i] = error
            continue
        news[i] = servers.NewServer(caller, req, request_id, flavor, props, key, group)
    try:
        done = servers.create_many(db, quotas, list(news.values()))
    except Exception:
        log.exception("recording %d servers together failed; recording them one by one",
                      len(news))
        done = [_alone(db, quotas, new) for new in news.values()]
    for i, result in zip(news, done):
        results[i] = result
    return results


def _alone(db, quotas, new: servers.NewServer):
    try:
        return servers.create_many(db, quotas, [new])[0]
    except Exception as error:  # this one's own failure, for its caller
        return error
