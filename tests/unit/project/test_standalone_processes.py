"""Each process imports without the code and the dependencies of the others.

A compute host installs `.[compute]`, a controller host `.[controller]` and a workstation the
base dependencies only (pyproject.toml), while this machine has everything. So every module of
the node agent, of the controller and of the CLI is imported here in a subprocess whose
meta-path finder refuses, as if not installed, the project packages the process must not use
and the distributions that only the other processes' extras bring. One stray import, direct or
through another module, fails the test.
"""

import importlib.metadata
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# Runs in the subprocess: argv[1] is the JSON list of refused top-level names, argv[2:] the
# modules to import.
IMPORT_WITH_REFUSALS = """
import importlib, importlib.abc, json, sys

REFUSED = set(json.loads(sys.argv[1]))


class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in REFUSED:
            raise ModuleNotFoundError(f"No module named {name!r} (refused)", name=name)
        return None


sys.meta_path.insert(0, Refuse())
for module in sys.argv[2:]:
    importlib.import_module(module)
"""


def canonical(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def declared_distributions(*extras: str) -> set[str]:
    """The distributions the base dependencies and the given extras name."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    return {canonical(re.match(r"[A-Za-z0-9._-]+", r).group()) for r in requirements}


def top_level_modules(distributions: set[str]) -> set[str]:
    """The top-level modules the installed distributions provide; each must provide one, or a
    dependency could slip past the refusal unnoticed."""
    provided: dict[str, set[str]] = {}
    for module, owners in importlib.metadata.packages_distributions().items():
        for owner in owners:
            provided.setdefault(canonical(owner), set()).add(module)
    missing = distributions - provided.keys()
    assert not missing, f"not installed, so not checked: {sorted(missing)}"
    return set().union(*(provided[d] for d in distributions))


def refused_for(own_extras: tuple[str, ...], other_packages: set[str]) -> list[str]:
    """Other processes' packages and every module only the other extras bring."""
    everything = declared_distributions("controller", "compute")
    own = declared_distributions(*own_extras)
    only_others = top_level_modules(everything - own) - top_level_modules(own)
    return sorted(only_others | other_packages)


def modules_of(package: str) -> list[str]:
    """Every module of a project package, `__main__` aside (importing it runs the program)."""
    names = []
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__main__":
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def import_refusing(refused: list[str], modules: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", IMPORT_WITH_REFUSALS, json.dumps(refused), *modules],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def node_refused() -> list[str]:
    return refused_for(("compute",), {"controller", "cli"})


def controller_refused() -> list[str]:
    return refused_for(("controller",), {"compute_node", "cli"})


def cli_refused() -> list[str]:
    return refused_for((), {"controller", "compute_node", "store_backends", "stratus_common"})


def test_the_node_refuses_the_controller_and_its_dependencies():
    # The controller-only distributions of today, named so that the derivation is seen working.
    assert {
        "controller",
        "cli",
        "peewee",
        "psycopg2",
        "grpc_health",
        "grpc_reflection",
        "uvloop",
    } <= set(node_refused())
    assert not {"libvirt", "cryptography", "oslo_utils", "grpc", "google"} & set(node_refused())


def test_a_refused_import_fails_in_the_subprocess():
    result = import_refusing(node_refused(), ["controller.config"])
    assert result.returncode != 0
    assert "No module named 'controller' (refused)" in result.stderr


def test_the_node_agent_imports_without_the_controller():
    modules = modules_of("compute_node")
    assert {
        "compute_node.main",
        "compute_node.agent",
        "compute_node.drivers.libvirt.driver",
    } <= set(modules)
    result = import_refusing(node_refused(), modules)
    assert result.returncode == 0, result.stderr


def test_the_controller_imports_without_the_node_agent():
    refused = controller_refused()
    assert {"compute_node", "cli", "libvirt"} <= set(refused)
    result = import_refusing(refused, modules_of("controller"))
    assert result.returncode == 0, result.stderr


def test_the_cli_imports_with_the_base_dependencies_only():
    refused = cli_refused()
    assert {"libvirt", "cryptography", "oslo_utils", "peewee", "stratus_common"} <= set(refused)
    result = import_refusing(refused, modules_of("cli"))
    assert result.returncode == 0, result.stderr
