"""The conductor's side of the contract (docs/dev/compute-contract.md), as the API uses it.

Node commands are written by `controller.compute.conductor.commands` in the same transaction
as the state change that needs them. A controller built without the conductor area still
places and claims servers, but no node is asked to run them: actions are UNAVAILABLE and a
placed server is deleted by freeing its records.
"""
from __future__ import annotations

import importlib

from controller.errors import Unavailable


def commands():
    """The conductor's command functions, or None when that area is not installed."""
    try:
        return importlib.import_module("controller.compute.conductor.commands")
    except ModuleNotFoundError as missing:
        if missing.name and missing.name.startswith("controller.compute.conductor"):
            return None
        raise


def unavailable() -> Unavailable:
    return Unavailable("no compute node service is running on this controller",
                       reason="CONDUCTOR_UNAVAILABLE")
