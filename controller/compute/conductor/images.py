"""What the conductor asks of images, all through the image port (app.image_port): what a
spawn boots from, and which images a node may fetch (only those of spawns waiting on it)."""

from __future__ import annotations

import logging

from controller.compute.conductor import commands, outbox
from controller.compute.conductor.models import NodeCommand
from controller.image.port import BootImages, ImagePort, ImageRef
from stratus_common.errors import StratusError

log = logging.getLogger(__name__)


def boot_images(port: ImagePort, instance_id: str, image_id: str) -> BootImages:
    """The images the server boots from. One that cannot boot is not the claim's to refuse:
    the spawn names it alone, the node's fetch fails (IMAGE_NOT_FOUND) and the build ends
    with that fault, as Nova's compute reports a missing image."""
    try:
        return port.boot_images(image_id)
    except StratusError as error:
        log.warning("server %s: image %s: %s", instance_id, image_id, error.message)
        return BootImages(ImageRef(image_id))


def node_may_fetch(node_id: str, image_id: str) -> bool:
    """True when a spawn (or a rebuild) waiting on the node boots from the image."""
    waiting = NodeCommand.select(NodeCommand.body).where(
        NodeCommand.node_id == node_id,
        NodeCommand.kind.in_(["spawn", "rebuild"]),
        NodeCommand.state.in_(outbox.LIVE),
    )
    return any(image_id in commands.image_ids(command.body) for command in waiting)
