"""Generates the gRPC stubs from protos/ whenever the package is built or installed.

They are generated before setup() runs, so package discovery sees the `stratus` packages
and wheels, sdists and editable installs all carry them.
"""

import pathlib

from setuptools import setup

ROOT = pathlib.Path(__file__).parent


def generate_stubs():
    import grpc_tools
    from grpc_tools import protoc

    proto_root = ROOT / "protos"
    well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    files = sorted(str(p.relative_to(proto_root)) for p in proto_root.rglob("*.proto"))
    args = [
        "protoc",
        f"-I{proto_root}",
        f"-I{well_known}",
        f"--python_out={ROOT}",
        f"--pyi_out={ROOT}",
        f"--grpc_python_out={ROOT}",
        *files,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed on protos/")
    for package_dir in {p.parent for p in (ROOT / "stratus").rglob("*_pb2.py")}:
        for directory in [package_dir, *package_dir.relative_to(ROOT).parents]:
            init = ROOT / directory / "__init__.py"
            if directory != pathlib.Path(".") and not init.exists():
                init.touch()


def vendor_htmx():
    """The dashboard serves htmx from its own static files: copied from the npm install."""
    source = ROOT / "node_modules" / "htmx.org" / "dist" / "htmx.min.js"
    if source.exists():
        target = ROOT / "dashboard" / "static" / "vendor"
        target.mkdir(exist_ok=True)
        (target / source.name).write_bytes(source.read_bytes())


if (ROOT / "protos").is_dir():
    generate_stubs()
vendor_htmx()
setup()
