import dataclasses
import typing


@dataclasses.dataclass
class LimitsSection:
    """[limits]: what one user, and all users together, may hold open in one controller
    process; beyond it a call is refused with RESOURCE_EXHAUSTED (controller/limits/slots.py)."""

    section: typing.ClassVar[str] = "limits"
    # Open long-lived streams (WatchServers).
    max_streams_per_user: int = 20
    max_streams: int = 2000
    # Image uploads and downloads running at once. At full speed a transfer takes about a
    # tenth of a core (hashing, inspection, the messages): beyond a few per core every other
    # call waits for the interpreter. Raise it with the controller's cores.
    max_transfers_per_user: int = 2
    max_transfers: int = 8
    # Changes a WatchServers stream may have unread before it reads them from the database
    # again (what an unread stream holds).
    watch_queue_size: int = 256
