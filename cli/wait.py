"""`--wait`: follows a server-streaming Watch call and reports each status change until the
resource reaches a final status. A stream that ends or drops early is opened again."""
from typing import Callable, Iterable, TextIO

import grpc

from cli.errors import CliError, WaitFailed

REOPEN_LIMIT = 5


def follow(open_stream: Callable[[], Iterable], status_of: Callable[[object], str], *,
           done: set[str], failed: set[str], report: TextIO, label: str,
           fault_of: Callable[[object], str] = lambda resource: ""):
    """The resource once its status is in `done`; WaitFailed once it is in `failed`.

    `open_stream()` starts the Watch call; each message is the resource as it now is
    (`status_of` reads its status). Changes are written to `report` as `label: STATUS`.
    """
    last = None
    for _ in range(REOPEN_LIMIT):
        try:
            for resource in open_stream():
                status = status_of(resource)
                if status != last:
                    report.write(f"{label}: {status}\n")
                    report.flush()
                    last = status
                if status in done:
                    return resource
                if status in failed:
                    fault = fault_of(resource)
                    raise WaitFailed(f"{label} is {status}" + (f": {fault}" if fault else ""))
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNAVAILABLE:
                raise
    raise CliError(f"stopped waiting for {label}: its watch ended {REOPEN_LIMIT} times while "
                   f"it was still {last or 'unknown'}; run the show command to see it now")
