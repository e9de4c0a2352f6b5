"""Exit codes and the errors the client reports as one line.

Exit codes (scripts may rely on them):

  0  success
  1  the request failed: the server refused it, or local input was bad (e.g. an unreadable file)
  2  usage: unknown command, missing or malformed arguments
  3  configuration: no URL or credentials, unknown cloud, unreadable clouds.yaml or CA file
  4  authentication or authorization failed (UNAUTHENTICATED, PERMISSION_DENIED)
  5  not found (NOT_FOUND, or a name that matches nothing)
  6  the server could not be reached or did not answer in time (UNAVAILABLE, DEADLINE_EXCEEDED)
  7  --wait: the resource ended in an error state
130  interrupted (Ctrl-C)
"""

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    CONFIG = 3
    AUTH = 4
    NOT_FOUND = 5
    UNREACHABLE = 6
    WAIT_FAILED = 7
    INTERRUPTED = 130


class CliError(Exception):
    """An error detected by the client itself; `str()` is the whole line to show."""

    exit_code = ExitCode.FAILED


class UsageError(CliError):
    exit_code = ExitCode.USAGE


class ConfigError(CliError):
    exit_code = ExitCode.CONFIG


class NotFoundError(CliError):
    exit_code = ExitCode.NOT_FOUND


class WaitFailed(CliError):
    exit_code = ExitCode.WAIT_FAILED


class LookupRefused(CliError):
    """The server refused a name or ID lookup that the command makes before its own call:
    reported as what the user asked for, not as the lookup's policy rule alone."""

    exit_code = ExitCode.AUTH

    def __init__(self, kind: str, name: str, error):
        self.kind, self.name, self.error = kind, name, error
        super().__init__(f"you may not look up {kind} {name!r}: {error.details()}")
