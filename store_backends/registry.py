"""Choose a store backend by name from configuration.

Built-in backends are listed here; a separately installed one registers itself under the
`stratus.store_backends` entry-point group, so adding a store never touches the image service.
"""
from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from store_backends.base import Store

ENTRY_POINT_GROUP = "stratus.store_backends"
BUILTIN = {
    "file": "store_backends.file:FileStore",
}


def _store_class(name: str, found: object) -> type[Store]:
    if not (isinstance(found, type) and issubclass(found, Store)):
        raise ValueError(f"image store backend {name!r} is not a Store subclass")
    return found


def _resolve(target: str) -> object:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def backend_class(name: str) -> type[Store]:
    if name in BUILTIN:
        return _store_class(name, _resolve(BUILTIN[name]))
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return _store_class(name, ep.load())
    known = sorted({*BUILTIN, *(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))})
    raise ValueError(f"unknown image store backend {name!r} (known: {', '.join(known)})")


def load_backend(config: Mapping[str, Any]) -> Store:
    """`{"backend": "file", "directory": "/srv/images"}` -> a ready FileStore.

    Every key but `backend` (default "file") is passed to the backend's constructor;
    an option it does not take is an error, never silently ignored.
    """
    options = dict(config)
    cls = backend_class(options.pop("backend", "file"))
    try:
        inspect.signature(cls).bind(**options)
    except TypeError as exc:
        raise ValueError(f"bad options for image store {cls.name!r}: {exc}") from None
    return cls(**options)
