"""Key pairs: per user, named uniquely for that user."""

from __future__ import annotations

from controller.compute.api import ssh_keys
from controller.compute.api.models import KeyPair
from controller.db.paging import paginate
from controller.db.queries import unique, utcnow
from stratus_common.errors import NotFound, PermissionDenied


def _owner(caller, user_id: str) -> str:
    """Admins may name another user; anyone else only themselves (or no one: their own)."""
    if not user_id or user_id == caller.user_id:
        return caller.user_id
    if not caller.is_admin:
        raise PermissionDenied(
            "only an admin may act on another user's key pairs", reason="KEY_PAIR_OTHER_USER"
        )
    return user_id


def create(db, quotas, caller, name: str, public_key: str = "") -> tuple[KeyPair, str]:
    """Returns the key pair and, when it was generated, the private key (never stored)."""
    ssh_keys.check_name(name)
    material = ssh_keys.import_public(public_key) if public_key else ssh_keys.generate()
    with db.write_transaction():
        quotas.check_key_pairs(caller)
        with unique("key pair", "name", name):
            row = KeyPair.create(
                user_id=caller.user_id,
                name=name,
                public_key=material.public_key,
                fingerprint=material.fingerprint,
                created_at=utcnow(),
            )
    return row, material.private_key


def get(caller, name: str, user_id: str = "") -> KeyPair:
    owner = _owner(caller, user_id)
    row = KeyPair.get_or_none((KeyPair.user_id == owner) & (KeyPair.name == name))
    if row is None:
        raise NotFound(f"key pair {name!r} not found", reason="KEY_PAIR_NOT_FOUND", name=name)
    return row


def list_(caller, page, user_id: str = ""):
    query = KeyPair.select().where(KeyPair.user_id == _owner(caller, user_id))
    return paginate(query, page, [KeyPair.name])


def delete(caller, name: str, user_id: str = "") -> None:
    get(caller, name, user_id).delete_instance()
