"""The shared secrets in the database: one sealed row per secret, with a revision.

Writes are compare-and-set on the revision (one conditional UPDATE, or an INSERT that the
primary key makes unique), so two replicas or two `stratus-manage` runs never overwrite each
other's change: the loser reads the winner's value and decides again. Methods run inside a
connection context (`db.call` / `db.run`).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import peewee

from controller.db.database import proxy
from controller.db.prepared import Param, Prepared
from controller.shared_secrets.models import SharedSecretRow
from controller.shared_secrets.sealing import Sealer

_REVISION = Prepared(
    lambda: SharedSecretRow.select(SharedSecretRow.revision).where(
        SharedSecretRow.name == Param("name")
    )
)


@dataclass(frozen=True)
class Secret:
    revision: int
    value: bytes


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


class SecretStore:
    def __init__(self, sealer: Sealer):
        self.sealer = sealer

    def read(self, name: str) -> Secret | None:
        row = SharedSecretRow.get_or_none(SharedSecretRow.name == name)
        return None if row is None else Secret(row.revision, self.sealer.open(row.sealed))

    def revision(self, name: str) -> int | None:
        """The secret's revision alone: one primary-key lookup, nothing to decrypt (on the
        validation path: prepared)."""
        row = _REVISION.execute(name=name).fetchone()
        return None if row is None else row[0]

    def create(self, name: str, value: bytes) -> bool:
        """Store the first value of `name`; False if some other writer stored one first."""
        try:
            with proxy.atomic():
                SharedSecretRow.insert(
                    name=name, sealed=self.sealer.seal(value), revision=1, updated_at=_now()
                ).execute()
        except peewee.IntegrityError:
            return False
        return True

    def replace(self, name: str, expected_revision: int, value: bytes) -> bool:
        """Replace the value if it is still at `expected_revision`; False if it moved on."""
        changed = (
            SharedSecretRow.update(
                sealed=self.sealer.seal(value),
                revision=SharedSecretRow.revision + 1,
                updated_at=_now(),
            )
            .where((SharedSecretRow.name == name) & (SharedSecretRow.revision == expected_revision))
            .execute()
        )
        return changed == 1
