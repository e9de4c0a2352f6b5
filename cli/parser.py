"""Builds the argparse tree from the registry: one level of subcommands per word
(`server` -> `group` -> `create`), global options before the command, and the output
options of show and list commands. argparse's usage errors exit with status 2, which is
ExitCode.USAGE."""

import argparse

from cli import errors, formatters
from cli.config import SETTINGS
from cli.registry import Registry

# Global options are kept under their own names: commands have a --project of their own.
GLOBAL = "global_"
EPILOG = "exit codes:\n" + errors.__doc__.split("rely on them):\n", 1)[1]


def _add_global_options(parser) -> None:
    """Options that come before the command, as the openstack client has them (commands
    have their own --project, --password, --url...)."""
    group = parser.add_argument_group("global options")
    group.add_argument(
        "--cloud",
        dest=f"{GLOBAL}cloud",
        metavar="NAME",
        help="cloud from clouds.yaml (env STRATUS_CLOUD)",
    )
    for setting in SETTINGS:
        action = group.add_argument(
            f"--{setting.name}",
            dest=f"{GLOBAL}{setting.name}",
            metavar=setting.name.upper(),
            help=f"{setting.help} (env {setting.env})",
        )
        action.completer = "file" if setting.name == "cacert" else None
    group.add_argument(
        "--timeout",
        dest=f"{GLOBAL}timeout",
        metavar="SECONDS",
        type=float,
        help="deadline of each call (env STRATUS_TIMEOUT; default 60)",
    )
    group.add_argument(
        "--debug", dest=f"{GLOBAL}debug", action="store_true", help="show tracebacks and calls"
    )


def global_options(args) -> dict:
    """The global options given, by name (`cloud`, `url`, ...), apart from the command's."""
    return {
        name[len(GLOBAL) :]: value for name, value in vars(args).items() if name.startswith(GLOBAL)
    }


def _add_output_options(parser, output: str) -> None:
    group = parser.add_argument_group("output formatters")
    formats = formatters.SHOW_FORMATS if output == "show" else formatters.LIST_FORMATS
    group.add_argument(
        "-f", "--format", choices=formats, default="table", help="output format (default: table)"
    )
    group.add_argument(
        "-c",
        "--column",
        dest="columns",
        action="append",
        metavar="COLUMN",
        help="show only this column (repeat for more)",
    )
    if output == "list":
        group.add_argument(
            "--sort-column",
            dest="sort_columns",
            action="append",
            metavar="COLUMN",
            help="sort by this column (repeat for more)",
        )
        group.add_argument(
            "--sort-descending", action="store_true", help="sort in descending order"
        )


def build(registry: Registry, *, version: str = "unknown") -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="stratus",
        description="Command-line client of a Stratus cloud.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    root.add_argument("--version", action="version", version=f"stratus {version}")
    _add_global_options(root)
    levels: dict[tuple, argparse._SubParsersAction] = {}

    def children(words: tuple) -> argparse._SubParsersAction:
        if words not in levels:
            parent = root if not words else node(words)
            levels[words] = parent.add_subparsers(
                title="commands", metavar="COMMAND", dest=f"_word{len(words)}", required=True
            )
        return levels[words]

    nodes: dict[tuple, argparse.ArgumentParser] = {}

    def node(words: tuple) -> argparse.ArgumentParser:
        if words not in nodes:
            help_text = registry.groups.get(words)
            nodes[words] = children(words[:-1]).add_parser(
                words[-1], help=help_text, description=help_text, prog=f"stratus {' '.join(words)}"
            )
        return nodes[words]

    for command in registry:
        if any(
            other.words[: len(command.words)] == command.words and other is not command
            for other in registry
        ):
            raise ValueError(f"{command.name!r} is both a command and a group of commands")
        parent = children(command.words[:-1])
        leaf = parent.add_parser(
            command.words[-1],
            help=command.help,
            description=command.help,
            prog=f"stratus {command.name}",
        )
        for argument in command.arguments:
            options = argument.options
            if not argument.flags[0].startswith("-") and "choices" not in options:
                options = {"metavar": argument.flags[0].upper()} | options
            action = leaf.add_argument(*argument.flags, **options)
            action.completer = argument.completer
        if command.output:
            _add_output_options(leaf, command.output)
        leaf.set_defaults(_command=command)
        nodes[command.words] = leaf
    return root
