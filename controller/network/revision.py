"""The network area's change counter (a row of `revision_counter`).

Every transaction that changes what some node must wire takes its next value, last of all
its locks (after the server revision counter where a compute transaction holds both), so no
two transactions can wait on each other for it. Node sessions compare it with the revision of
the NetworkState they last sent: when it moved, they compute the node's state again.
"""

from __future__ import annotations

from controller.db.statements import bump_counter, read_counter

NAME = "network"


def bump() -> int:
    return bump_counter(NAME)


def current() -> int:
    return read_counter(NAME)
