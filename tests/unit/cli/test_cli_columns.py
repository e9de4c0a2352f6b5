"""Every command with output names its columns before any call, from the same views and
column tables that build its result."""

import argparse

import pytest

from cli import commands
from cli.errors import UsageError
from cli.formatters import check_columns
from cli.registry import REGISTRY, Registry

commands.load()
WITH_OUTPUT = [c for c in REGISTRY if c.output]


@pytest.mark.parametrize("command", WITH_OUTPUT, ids=lambda c: c.name)
@pytest.mark.parametrize("long", [False, True])
def test_each_command_names_its_columns_without_calling(command, long):
    names = list(command.columns(argparse.Namespace(long=long, names=long)))
    assert names and len(set(names)) == len(names), names
    assert all(isinstance(n, str) and n for n in names)


def test_long_adds_columns_and_none_are_lost():
    server_list = REGISTRY.commands[("server", "list")]
    short = server_list.columns(argparse.Namespace(long=False))
    assert short == ["ID", "Name", "Status", "Networks", "Image", "Flavor"]
    assert server_list.columns(argparse.Namespace(long=True))[: len(short)] == short


def test_show_columns_come_from_the_view_and_include_what_it_adds_sometimes():
    names = REGISTRY.commands[("flavor", "show")].columns(argparse.Namespace())
    assert {"ram", "disk", "properties", "access_project_ids"} <= set(names)
    assert "host" in REGISTRY.commands[("server", "show")].columns(argparse.Namespace())


def test_columns_and_sort_columns_are_checked():
    options = argparse.Namespace(columns=["name", "ID"], sort_columns=None)
    check_columns(["ID", "Name"], options)  # case-insensitive, as rendering is
    with pytest.raises(UsageError, match="unknown column 'Size'; columns: ID, Name"):
        check_columns(["ID", "Name"], argparse.Namespace(columns=None, sort_columns=["Size"]))


def test_a_command_with_output_must_name_its_columns():
    registry = Registry()
    with pytest.raises(ValueError, match="names its columns"):
        registry.command("thing show", help="show", output="show")(lambda ctx, args: None)
    with pytest.raises(ValueError, match="names its columns"):
        registry.command("thing delete", help="delete", columns=["id"])(lambda ctx, args: None)
