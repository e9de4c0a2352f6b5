"""The command registry: each area's module declares its commands with `@command` and
`@arg`; the parser, the help and the shell completion are all built from it.

    @command("image show", help="Show an image's details", output="show",
             columns=resources.fields_of(show_image, pb.Image))
    @arg("image", help="image name or ID")
    def image_show(ctx, args):
        return ShowResult({...})

A command with output names the columns it can show (`columns`: the names, or a function of
the parsed arguments giving them), so that `-c` and `--sort-column` are checked before any
call is made.
"""

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

ColumnNames = Callable[[Any], Sequence[str]]


@dataclasses.dataclass
class Argument:
    flags: tuple
    options: dict
    completer: str | None = None  # "file" completes file names in the shell


@dataclasses.dataclass
class Command:
    words: tuple[str, ...]
    func: Callable[[Any, Any], Any]
    help: str
    output: str | None = None  # "show", "list", or None for commands that print nothing
    session: bool = True  # whether the command talks to the API
    arguments: list[Argument] = dataclasses.field(default_factory=list)
    columns: ColumnNames | None = None  # of its output, given the parsed arguments

    @property
    def name(self) -> str:
        return " ".join(self.words)


class Registry:
    def __init__(self):
        self.commands: dict[tuple[str, ...], Command] = {}
        self.groups: dict[tuple[str, ...], str] = {}

    def command(
        self,
        name: str,
        *,
        help: str,
        output: str | None = None,
        columns: ColumnNames | Sequence[str] | None = None,
        session: bool = True,
    ):
        if output not in (None, "show", "list"):
            raise ValueError(f"output must be show, list or None, not {output!r}")
        if (output is None) != (columns is None):
            raise ValueError(
                f"{name!r}: a command with output names its columns, and only such a command"
            )
        if columns is not None and not callable(columns):
            names = tuple(columns)
            columns = lambda args: names  # noqa: E731 (the same names whatever the args)

        def register(func):
            words = tuple(name.split())
            if words in self.commands:
                raise ValueError(f"command {name!r} is registered twice")
            arguments = list(reversed(getattr(func, "_cli_arguments", [])))
            self.commands[words] = Command(words, func, help, output, session, arguments, columns)
            return func

        return register

    def group(self, name: str, help: str) -> None:
        """Describes a noun (`image`) or a noun phrase (`server group`) in the help."""
        self.groups[tuple(name.split())] = help

    def __iter__(self):
        return iter(sorted(self.commands.values(), key=lambda c: c.words))


def arg(*flags, completer: str | None = None, **options):
    """Adds an argparse argument to the command below it (decorators apply bottom-up)."""

    def add(func):
        func.__dict__.setdefault("_cli_arguments", []).append(Argument(flags, options, completer))
        return func

    return add


REGISTRY = Registry()
command = REGISTRY.command
group = REGISTRY.group
