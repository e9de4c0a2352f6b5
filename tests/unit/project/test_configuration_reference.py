"""docs/configuration.md lists every option of both processes, with the default the code has.

The controller's sections are found in the source (each is a dataclass whose `section` class
attribute names it), so a section added anywhere under controller/ is checked too; the compute
node's are the fields of `compute_node.config.Config`.
"""

import ast
import dataclasses
import importlib
import json
import re
import typing
from pathlib import Path

import compute_node.config

ROOT = Path(__file__).resolve().parents[3]
REFERENCE = ROOT / "docs" / "configuration.md"
OPTION_TABLE = "| option | default | meaning |"
ROW = re.compile(r"\| `(\w+)` \| `([^`]*)`")


def documented(process: str) -> dict[str, dict[str, str]]:
    """{section: {option: default}} from the option tables under `## <process>: ...`."""
    text = REFERENCE.read_text()
    part = text.split(f"\n## {process}:", 1)[1].split("\n## ", 1)[0]
    sections: dict[str, dict[str, str]] = {}
    section, in_table = None, False
    for line in part.splitlines():
        if heading := re.fullmatch(r"### \[(\w+)\]", line):
            section = heading.group(1)
            sections[section] = {}
        in_table = line == OPTION_TABLE or (in_table and line.startswith("|"))
        if in_table and (row := ROW.match(line)):
            sections[section][row.group(1)] = row.group(2)
    return sections


def toml_literal(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value)  # strings, lists of strings and {} read the same in TOML


def options_of(cls) -> dict[str, str]:
    defaults = {}
    for field in dataclasses.fields(cls):
        value = (
            field.default if field.default is not dataclasses.MISSING else field.default_factory()
        )
        defaults[field.name] = toml_literal(value)
    return defaults


def declares_section(node: ast.ClassDef) -> bool:
    return any(
        isinstance(item, ast.AnnAssign)
        and getattr(item.target, "id", "") == "section"
        and isinstance(item.value, ast.Constant)
        for item in node.body
    )


def controller_sections() -> dict[str, dict[str, str]]:
    sections = {}
    for path in sorted((ROOT / "controller").rglob("*.py")):
        classes = [
            node.name
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ClassDef) and declares_section(node)
        ]
        if not classes:
            continue
        module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
        for name in classes:
            cls = getattr(module, name)
            sections[cls.section] = options_of(cls)
    return sections


def compute_node_sections() -> dict[str, dict[str, str]]:
    hints = typing.get_type_hints(compute_node.config.Config)
    return {
        field.name: options_of(hints[field.name])
        for field in dataclasses.fields(compute_node.config.Config)
    }


def test_the_reference_lists_every_controller_option_with_its_default():
    code = controller_sections()
    assert {"controller", "database", "identity", "image", "ca", "scheduler"} <= code.keys()
    assert documented("stratus-controller") == code


def test_the_reference_lists_every_compute_node_option_with_its_default():
    code = compute_node_sections()
    assert {"compute", "libvirt", "image_cache", "metrics", "network"} == code.keys()
    assert documented("stratus-compute") == code
