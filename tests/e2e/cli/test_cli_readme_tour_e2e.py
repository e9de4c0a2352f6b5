"""The README's five-minute tour, run exactly as written, so that the README cannot drift
from what the CLI does."""
import re
import subprocess
import sys

import yaml

from tests.e2e.cli.conftest import ROOT
from tests.support.controller import ADMIN_PASSWORD


def tour() -> str:
    """The first shell block under the README's "Five-minute tour" heading."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Five-minute tour", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def test_the_tour_runs_as_written(tmp_path, controller_process):
    home = tmp_path / "home"
    (home / ".config" / "stratus").mkdir(parents=True)
    # What `scripts/all-in-one up` writes, pointed at this test's controller.
    (home / ".config" / "stratus" / "clouds.yaml").write_text(yaml.safe_dump({"clouds": {
        "all-in-one": {"auth": {"auth_url": f"grpc://{controller_process.address}",
                                "username": "admin", "password": ADMIN_PASSWORD,
                                "project_name": "admin"}}}}))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "stratus"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m cli "$@"\n')
    shim.chmod(0o755)
    script = tour()
    assert "stratus " in script
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path,
                          env={"HOME": str(home), "PATH": f"{bin_dir}:/usr/bin:/bin",
                               "PYTHONPATH": str(ROOT), "LANG": "C.UTF-8"},
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    if "catalog list" in script:
        assert "| keystone " in proc.stdout
