"""`--wait`: follows a server-streaming Watch call and reports each status change until the
resource is done. A stream that ends or drops early is opened again from the last message
seen, so nothing is missed across a controller restart."""
from collections.abc import Callable, Iterable
from typing import TextIO

import grpc

from cli.errors import CliError, WaitFailed

REOPEN_LIMIT = 5


def follow(open_stream: Callable[[object | None], Iterable], *,
           status_of: Callable[[object], str], done: Callable[[object], bool],
           failed: Callable[[object], bool], report: TextIO, label: str,
           fault_of: Callable[[object], str] = lambda message: "",
           initial: str | None = None):
    """The first message for which `done(message)`; WaitFailed at the first `failed` one.

    `open_stream(last)` starts the Watch call after `last`, the last message seen (None at
    first). Each change of `status_of(message)` is written to `report` as `label: STATUS`,
    starting with the `initial` status when it is known.
    """
    last, shown = None, initial
    if initial:
        report.write(f"{label}: {initial}\n")
        report.flush()
    for _ in range(REOPEN_LIMIT):
        try:
            for message in open_stream(last):
                last = message
                status = status_of(message)
                if status != shown:
                    report.write(f"{label}: {status}\n")
                    report.flush()
                    shown = status
                if failed(message):
                    fault = fault_of(message)
                    raise WaitFailed(f"{label} is {status}" + (f": {fault}" if fault else ""))
                if done(message):
                    return message
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNAVAILABLE:
                raise
    raise CliError(f"stopped waiting for {label}: its watch ended {REOPEN_LIMIT} times while "
                   f"it was still {shown or 'unknown'}; run the show command to see it now")
