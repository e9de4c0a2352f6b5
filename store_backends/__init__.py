"""Image data stores behind one small interface (see base.py); `file` is the default."""

from store_backends.base import (
    BackendError,
    Capability,
    Duplicate,
    InvalidLocation,
    NotFound,
    StorageFull,
    Store,
    StoredImage,
    StoreError,
    Upload,
    Verifier,
)
from store_backends.registry import load_backend

__all__ = [
    "BackendError",
    "Capability",
    "Duplicate",
    "InvalidLocation",
    "NotFound",
    "StorageFull",
    "Store",
    "StoreError",
    "StoredImage",
    "Upload",
    "Verifier",
    "load_backend",
]
