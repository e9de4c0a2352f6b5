"""`stratus`: parses the command line, runs the command, prints its result, and turns every
failure into one line on stderr and an exit code (see cli.errors)."""

import contextlib
import importlib.metadata
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from typing import TextIO

import grpc

from cli import auth, commands, formatters, rpc_errors
from cli import parser as cli_parser
from cli.context import Context
from cli.errors import CliError, ExitCode, LookupRefused
from cli.registry import REGISTRY


def _version() -> str:
    try:
        return importlib.metadata.version("stratus")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def build_parser():
    commands.load()
    return cli_parser.build(REGISTRY, version=_version())


def main(
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    env = os.environ if env is None else env
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        parser.print_help(stderr)
        return ExitCode.USAGE
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, or a usage error already printed
        return e.code if isinstance(e.code, int) else ExitCode.USAGE
    ctx = Context(
        args, env=env, stdout=stdout, stderr=stderr, parser=parser, issue_token=auth.issue_token
    )
    try:
        return run(ctx)
    finally:
        ctx.close()


def run(ctx: Context) -> int:
    args, stderr = ctx.args, ctx.stderr
    command = args._command
    try:
        if command.columns is not None:
            formatters.check_columns(command.columns(args), args)
        result = command.func(ctx, args)
        if result is not None:
            formatters.render(result, ctx.stdout, args)
        ctx.stdout.flush()
        return ExitCode.OK
    except grpc.RpcError as e:
        print(f"stratus: {describe(ctx, e)}", file=stderr)
        return rpc_errors.exit_code_for(e)
    except LookupRefused as e:
        step = f"{command.name}: you may not look up {e.kind} {e.name!r}"
        print(f"stratus: {describe(ctx, e.error, step)}", file=stderr)
        return e.exit_code
    except CliError as e:
        print(f"stratus: error: {e}", file=stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("\nstratus: interrupted", file=stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`stratus image list | head -1`): stop quietly.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), ctx.stdout.fileno())
        return ExitCode.FAILED
    except OSError as e:  # a local file the command was given
        where = f"{e.filename}: " if e.filename else ""
        print(f"stratus: error: {where}{e.strerror or e}", file=stderr)
        return ExitCode.FAILED
    except Exception as e:  # noqa: BLE001 - the last resort: one line, not a traceback
        if ctx.options.get("debug"):
            traceback.print_exc(file=stderr)
        print(
            f"stratus: internal error: {type(e).__name__}: {e} "
            "(run again with --debug to see where, and report it)",
            file=stderr,
        )
        return ExitCode.FAILED


def describe(ctx: Context, error: grpc.RpcError, step: str | None = None) -> str:
    url = ctx.settings.url if "settings" in ctx.__dict__ else None
    request_id = ctx.session.request_id if "session" in ctx.__dict__ else None
    return rpc_errors.describe(error, url=url, request_id=request_id, step=step)
