"""`--wait`: follows a server-streaming Watch call and reports each status change until the
resource is done. A stream that ends or drops early is opened again from the last message
seen, so nothing is missed across a controller restart.

While it waits, the time waited and the state waited for are shown, so that a slow step (a
guest taking a minute to shut down) does not look like a hung command: on a terminal a line
redrawn every second, elsewhere a line every REPORT_INTERVAL seconds."""

import threading
import time
from collections.abc import Callable, Iterable
from typing import TextIO

import grpc

from cli.errors import CliError, WaitFailed
from cli.progress import human_duration, is_terminal

REOPEN_LIMIT = 5
REPORT_INTERVAL = 5.0  # seconds between "still waiting" lines when not on a terminal
REDRAW_INTERVAL = 1.0  # on a terminal


class Report:
    """What a wait writes to `stream`: a line per status change and, when `elapsed`, the
    time waited for `goal` (from a thread of its own: the watch blocks between changes)."""

    def __init__(
        self,
        stream: TextIO,
        label: str,
        goal: str | None,
        *,
        elapsed: bool,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.stream, self.label, self.goal, self.clock = stream, label, goal, clock
        self.terminal = is_terminal(stream)
        self.interval = REDRAW_INTERVAL if self.terminal else REPORT_INTERVAL
        self.started = clock()
        self.status: str | None = None
        self.lock = threading.Lock()
        self.drawn = False  # a redrawn line is on the terminal
        self.stopped = threading.Event()
        self.thread = (
            threading.Thread(target=self._run, daemon=True, name="wait-report")
            if elapsed and goal
            else None
        )

    def __enter__(self):
        if self.thread is not None:
            self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stopped.set()
        if self.thread is not None:
            self.thread.join()
        with self.lock:
            self._clear()

    def changed(self, status: str) -> None:
        with self.lock:
            self._clear()
            self.status = status
            self.stream.write(f"{self.label}: {status}\n")
            self.stream.flush()

    def waiting_line(self) -> str:
        elapsed = human_duration(self.clock() - self.started)
        return f"{self.label}: {self.status}, waiting for {self.goal} ({elapsed})"

    def _run(self) -> None:
        while not self.stopped.wait(self.interval):
            with self.lock:
                if self.status is None:  # nothing seen yet: nothing to say it is in
                    continue
                if self.terminal:
                    self.stream.write("\r\x1b[K" + self.waiting_line())
                    self.drawn = True
                else:
                    self.stream.write(self.waiting_line() + "\n")
                self.stream.flush()

    def _clear(self) -> None:
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.drawn = False


def follow(
    open_stream: Callable[[object | None], Iterable],
    *,
    status_of: Callable[[object], str],
    done: Callable[[object], bool],
    failed: Callable[[object], bool],
    report: TextIO,
    label: str,
    fault_of: Callable[[object], str] = lambda message: "",
    initial: str | None = None,
    goal: str | None = None,
    elapsed: bool = True,
):
    """The first message for which `done(message)`; WaitFailed at the first `failed` one.

    `open_stream(last)` starts the Watch call after `last`, the last message seen (None at
    first). Each change of `status_of(message)` is written to `report` as `label: STATUS`,
    starting with the `initial` status when it is known; with `elapsed`, the time waited
    for `goal` too.
    """
    with Report(report, label, goal, elapsed=elapsed) as shown:
        if initial:
            shown.changed(initial)
        return _follow(open_stream, status_of, done, failed, shown, label, fault_of)


def _follow(open_stream, status_of, done, failed, shown: Report, label, fault_of):
    last = None
    for _ in range(REOPEN_LIMIT):
        try:
            for message in open_stream(last):
                last = message
                status = status_of(message)
                if status != shown.status:
                    shown.changed(status)
                if failed(message):
                    fault = fault_of(message)
                    raise WaitFailed(f"{label} is {status}" + (f": {fault}" if fault else ""))
                if done(message):
                    return message
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNAVAILABLE:
                raise
    raise CliError(
        f"stopped waiting for {label}: its watch ended {REOPEN_LIMIT} times while "
        f"it was still {shown.status or 'unknown'}; run the show command to see it "
        "now"
    )
