"""The README's "Calling the API" commands, run as written against a controller that does not
listen on the default port: the address comes from STRATUS_PORT_BASE, as the all-in-one's
does."""

import os
import re
import subprocess
import sys

from tests.e2e.cli.conftest import ROOT
from tests.support.controller import ADMIN_PASSWORD


def api_block() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Calling the API", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)[0]


def test_the_grpcurl_examples_use_the_port_of_the_cloud(cli, controller_process, tmp_path):
    port = controller_process.address.rsplit(":", 1)[1]
    assert port != "5000"
    bin_dir = tmp_path / "bin"  # `stratus` as installed, from this checkout
    bin_dir.mkdir()
    (bin_dir / "stratus").write_text(f'#!/bin/sh\nexec {sys.executable} -m cli "$@"\n')
    (bin_dir / "stratus").chmod(0o755)
    env = {**cli.env, "PATH": f"{bin_dir}:{os.environ['PATH']}", "STRATUS_PORT_BASE": port}
    script = api_block().replace("<admin password>", ADMIN_PASSWORD)
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "stratus.identity.v1.IdentityService" in proc.stdout
    assert '"token": "' in proc.stdout and '"name": "demo"' in proc.stdout
    assert cli.value("project", "show", "demo", "-c", "name") == "demo"
