"""Users: accounts with a password and a default project."""

import datetime
import uuid

from controller.db.database import write_transaction
from controller.db.paging import paginate
from controller.db.queries import get_or_not_found, unique, utcnow
from controller.identity import revocations, roles
from controller.identity.models import Project, User
from stratus_common import errors

UPDATABLE = {"name", "email", "enabled", "default_project_id", "description", "password"}


def create(
    name, password_hash, email="", enabled=True, default_project_id=None, description=""
) -> User:
    if default_project_id:
        get_or_not_found(Project, default_project_id, "project")
    now = utcnow()
    with unique("user", "name", name):
        return User.create(
            id=str(uuid.uuid4()),
            name=name,
            email=email,
            enabled=enabled,
            default_project=default_project_id,
            description=description,
            password_hash=password_hash,
            password_changed_at=now,
            failed_auth_count=0,
            created_at=now,
            updated_at=now,
        )


def get(user_id: str) -> User:
    return get_or_not_found(User, user_id, "user")


def find(user_id: str | None, name: str | None) -> User | None:
    if user_id:
        return User.get_or_none(User.id == user_id)
    return User.get_or_none(User.name == name)


def list_(page, name=None, enabled=None):
    query = User.select()
    if name:
        query = query.where(User.name == name)
    if enabled is not None:
        query = query.where(User.enabled == enabled)
    return paginate(query, page, [User.name, User.id])


def update(
    user_id: str, changes: dict, max_token_life: int, password_hash: str | None = None
) -> User:
    # Checked and written in one transaction, so two admins disabled at once cannot both pass
    # the last-admin check; the revocation follows the commit (revocations.record).
    with write_transaction():
        user = get(user_id)
        if changes.get("default_project_id"):
            get_or_not_found(Project, changes["default_project_id"], "project")
        disabling = changes.get("enabled") is False and user.enabled
        if disabling:
            roles.ensure_admins_remain(removing_user=user.id)
        for key, value in changes.items():
            setattr(user, "default_project" if key == "default_project_id" else key, value)
        now = utcnow()
        if password_hash is not None:
            user.password_hash = password_hash
            user.password_changed_at = now
            user.failed_auth_count = 0
            user.locked_until = None
        user.updated_at = now
        with unique("user", "name", user.name):
            user.save()
    if disabling or password_hash is not None:
        revocations.record(user_id=user.id, max_token_life=max_token_life, now=now)
    return user


def delete(user_id: str, max_token_life: int):
    with write_transaction():
        user = get(user_id)
        roles.ensure_admins_remain(removing_user=user.id)
        user.delete_instance()
    revocations.record(user_id=user.id, max_token_life=max_token_life)


def record_failed_login(user_id: str, max_attempts: int, lockout_seconds: int):
    """Counts a failed password; locks the account after max_attempts (0: never).

    The count is incremented in the database, not read and written back, so concurrent
    failures all count."""
    User.update(failed_auth_count=User.failed_auth_count + 1).where(User.id == user_id).execute()
    if max_attempts:
        until = utcnow() + datetime.timedelta(seconds=lockout_seconds)
        (
            User.update(locked_until=until, failed_auth_count=0)
            .where((User.id == user_id) & (User.failed_auth_count >= max_attempts))
            .execute()
        )


def record_login(user: User):
    if user.failed_auth_count or user.locked_until:
        User.update(failed_auth_count=0, locked_until=None).where(User.id == user.id).execute()


def is_locked(user: User, now=None) -> bool:
    return bool(user.locked_until and user.locked_until > (now or utcnow()))


def check_password_policy(password: str, minimum_length: int, field: str = "password"):
    if len(password) < minimum_length:
        raise errors.InvalidArgument(field, f"must be at least {minimum_length} characters")
    if len(password.encode()) > 1024:
        raise errors.InvalidArgument(field, "must be at most 1024 bytes")
