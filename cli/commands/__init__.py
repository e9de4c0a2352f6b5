"""The command modules, one per area. Importing a module registers its commands."""

import importlib

MODULES = (
    "cli.commands.shell",
    "cli.commands.identity",
    "cli.commands.image",
    "cli.commands.compute",
    "cli.commands.network",
    "cli.commands.ca",
)

# Modules left out because the generated stubs they need are missing: module -> stub name.
MISSING: dict[str, str] = {}


def load() -> None:
    for name in MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            if not (e.name or "").startswith("stratus."):
                raise
            MISSING[name] = e.name
