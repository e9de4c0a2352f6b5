"""Choose a store backend by name from configuration.

Built-in backends are listed here; a separately installed one registers itself under the
`stratus.store_backends` entry-point group, so adding a store never touches the image service.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from store_backends.base import Store
from stratus_common import plugins

ENTRY_POINT_GROUP = "stratus.store_backends"
BUILTIN = {
    "file": "store_backends.file:FileStore",
}


def backend_class(name: str) -> type[Store]:
    cls: type[Store] = plugins.load(ENTRY_POINT_GROUP, BUILTIN, name, "image store backend")
    return cls


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
