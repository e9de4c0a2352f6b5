"""Plug-ins by name: the built-in ones listed by their owner, others found under an
entry-point group, so an operator's plug-in installs as a package of its own."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points


def load(group: str, builtin: dict[str, str], name: str, what: str):
    """The object named `name`: `builtin[name]` ("module:attribute"), else the entry point
    of that name in `group`; ValueError naming every known one when there is none."""
    if name in builtin:
        module, _, attr = builtin[name].partition(":")
        return getattr(importlib.import_module(module), attr)
    installed = entry_points(group=group)
    for ep in installed:
        if ep.name == name:
            return ep.load()
    known = sorted({*builtin, *(ep.name for ep in installed)})
    raise ValueError(f"unknown {what} {name!r} (known: {', '.join(known)})")
