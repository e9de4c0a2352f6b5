"""The command runner: results printed, every failure one line on stderr and an exit code."""

import argparse
import io

import grpc

from cli.context import Context
from cli.errors import ExitCode
from cli.formatters import ShowResult
from cli.main import main, run
from cli.registry import Command


def run_command(func, env=None, **options):
    options = {"global_debug": False, "format": "table", "columns": None} | options
    args = argparse.Namespace(_command=Command(("test",), func, "test"), **options)
    stdout, stderr = io.StringIO(), io.StringIO()
    ctx = Context(args, env=env or {}, stdout=stdout, stderr=stderr)
    try:
        code = run(ctx)
    finally:
        ctx.close()
    return code, stdout.getvalue(), stderr.getvalue()


def test_a_result_is_rendered_with_the_chosen_format():
    code, out, err = run_command(
        lambda ctx, args: ShowResult({"id": "1", "name": "x"}), columns=["name"]
    )
    assert (code, out, err) == (
        0,
        (
            "+-------+-------+\n| Field | Value |\n+-------+-------+\n"
            "| name  | x     |\n+-------+-------+\n"
        ),
        "",
    )


def test_a_server_error_is_one_line_with_its_exit_code(tiny_server):
    async def missing(request, context):
        await context.abort(grpc.StatusCode.NOT_FOUND, "image cirros not found")

    target = tiny_server({"Get": (grpc.unary_unary_rpc_method_handler, missing)})

    def command(ctx, args):
        s = ctx.session
        return s.call(s.channel.unary_unary("/test.v1.Tiny/Get"), b"", authenticated=False)

    code, out, err = run_command(command, env={"STRATUS_URL": target})
    assert code == ExitCode.NOT_FOUND and out == ""
    assert err.count("\n") == 1
    assert err.startswith("stratus: NOT_FOUND: image cirros not found. Check the name or ID")
    assert "(request req-" in err


def test_an_unreachable_server_is_exit_code_6():
    def command(ctx, args):
        s = ctx.session
        return s.call(s.channel.unary_unary("/test.v1.Tiny/Get"), b"", authenticated=False)

    code, _, err = run_command(command, env={"STRATUS_URL": "127.0.0.1:1"})
    assert code == ExitCode.UNREACHABLE
    assert err.startswith("stratus: UNAVAILABLE: ") and "running at 127.0.0.1:1" in err


def test_missing_configuration_is_exit_code_3():
    code, _, err = run_command(lambda ctx, args: ctx.session.channel, env={"HOME": "/nonexistent"})
    assert code == ExitCode.CONFIG
    assert err == (
        "stratus: error: no API address: set STRATUS_URL, pass --url, or choose a "
        "cloud with --cloud\n"
    )


def test_an_unreadable_input_file_is_exit_code_1(tmp_path):
    code, _, err = run_command(lambda ctx, args: open(tmp_path / "no.img", "rb"))  # noqa: SIM115
    assert code == ExitCode.FAILED
    assert err == f"stratus: error: {tmp_path / 'no.img'}: No such file or directory\n"


def test_a_client_bug_is_one_line_unless_debugging():
    def broken(ctx, args):
        raise ValueError("oops")

    code, _, err = run_command(broken)
    assert code == ExitCode.FAILED and "Traceback" not in err
    assert err == (
        "stratus: internal error: ValueError: oops (run again with --debug to see "
        "where, and report it)\n"
    )
    code, _, err = run_command(broken, global_debug=True)
    assert code == ExitCode.FAILED
    assert "Traceback" in err and err.endswith("report it)\n")


def test_interrupted_is_exit_code_130():
    def interrupted(ctx, args):
        raise KeyboardInterrupt

    code, _, err = run_command(interrupted)
    assert code == ExitCode.INTERRUPTED and err.strip() == "stratus: interrupted"


def test_usage_errors_are_exit_code_2():
    stderr = io.StringIO()
    assert main(["no-such-command"], stdout=io.StringIO(), stderr=stderr) == ExitCode.USAGE
    assert "invalid choice: 'no-such-command'" in stderr.getvalue()
    assert main([], stdout=io.StringIO(), stderr=io.StringIO()) == ExitCode.USAGE


def test_help_lists_the_exit_codes():
    stdout = io.StringIO()
    assert main(["--help"], stdout=stdout, stderr=io.StringIO()) == 0
    assert "4  authentication or authorization failed" in stdout.getvalue()


def test_a_command_argument_named_like_a_global_option_stays_apart():
    from cli.main import build_parser

    args = build_parser().parse_args(["--project", "admin", "project", "show", "demo"])
    ctx = Context(args, env={"STRATUS_URL": "h:1"}, stdout=io.StringIO(), stderr=io.StringIO())
    assert (ctx.settings.project, args.project) == ("admin", "demo")
