"""scripts/install-controller and scripts/install-compute into root directories: what they
write, that running them again changes nothing (or only what the flags changed), their
refusals, and --uninstall. The three-host test runs what they install."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "install-test-pw"


def run(script: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    path = os.environ.get("PYTHONPATH", "")
    return subprocess.run(
        [str(ROOT / "scripts" / script), *args],
        env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep + path if path else ''}", **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def install_controller(root: Path, *flags: str) -> subprocess.CompletedProcess:
    done = run(
        "install-controller", "--root", str(root), "--no-systemd",
        "--admin-password", PASSWORD, *flags,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_the_controller_install_is_idempotent_and_follows_its_flags(tmp_path):
    root = tmp_path / "root"
    odd_url = 'grpc://api.example.org:5000/"quoted"\\path'
    flags = (
        "--listen", "127.0.0.1:15000",
        "--public-url", odd_url,
        "--node-address", "10.0.0.5",
        "--node-address", "api.example.org",
        "--database-url", "sqlite:///" + str(root / "var/lib/stratus/stratus.db"),
        "--set", "compute.service_down_time=7",
        "--set", 'logging.format="json"',
    )  # fmt: skip
    first = install_controller(root, *flags)
    config_path = root / "etc/stratus/controller.toml"
    config = tomllib.loads(config_path.read_text())
    assert config["controller"]["listen"] == "127.0.0.1:15000"
    assert config["controller"]["public_url"] == odd_url
    assert config["controller"]["state_dir"] == str(root / "var/lib/stratus")
    assert config["database"]["url"] == "credential:database-url"
    assert config["ca"]["node_listener_ip_addresses"] == ["10.0.0.5"]
    assert config["ca"]["node_listener_dns_names"] == ["api.example.org"]
    assert config["compute"]["service_down_time"] == 7
    assert config["logging"]["format"] == "json"
    credential = root / "etc/stratus/credentials/database-url"
    assert credential.read_text().strip().endswith("stratus.db")
    assert credential.stat().st_mode & 0o777 == 0o600
    assert (root / "etc/stratus/credentials").stat().st_mode & 0o777 == 0o700
    assert "created user admin" in first.stdout
    unit = root / "etc/systemd/system/stratus-controller.service"
    assert "/usr/local/bin/" not in unit.read_text()
    if shutil.which("systemd-analyze"):
        verify = subprocess.run(
            ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
        )
        assert verify.returncode == 0, verify.stderr

    # Again, with the same flags: nothing is written, nothing created.
    written = {p: p.stat().st_mtime_ns for p in (config_path, credential, unit)}
    again = install_controller(root, *flags)
    assert "wrote" not in again.stdout
    assert "created" not in again.stdout
    assert {p: p.stat().st_mtime_ns for p in written} == written

    # Another flag: only the configuration changes; keys, CA and database are kept.
    changed = install_controller(root, "--listen", "127.0.0.1:16000")
    assert f"wrote {config_path}" in changed.stdout
    assert "kept existing Fernet keys" in changed.stdout
    assert tomllib.loads(config_path.read_text())["controller"]["listen"] == "127.0.0.1:16000"

    # Uninstall keeps the state unless asked.
    done = run("install-controller", "--root", str(root), "--no-systemd", "--uninstall")
    assert done.returncode == 0, done.stderr
    assert not config_path.exists() and not credential.exists() and not unit.exists()
    assert (root / "var/lib/stratus/stratus.db").exists()
    done = run("install-controller", "--root", str(root), "--uninstall", "--purge")
    assert done.returncode == 0, done.stderr
    assert not (root / "var/lib/stratus").exists()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--bogus"], "unknown option --bogus"),
        (["--set", "nodot=1"], "--set takes section.key=value"),
    ],
)
def test_the_controller_install_refuses_bad_flags_and_writes_nothing(tmp_path, flags, message):
    done = run("install-controller", "--root", str(tmp_path / "root"), *flags)
    assert done.returncode != 0
    assert message in done.stderr
    assert not (tmp_path / "root").exists()


def test_the_compute_install_needs_a_token_to_enroll(tmp_path):
    root = tmp_path / "root"
    done = run(
        "install-compute", "--root", str(root), "--no-systemd",
        "--controller", "127.0.0.1:1", "--public-endpoint", "127.0.0.1:1",
        "--host-name", "n.test", "--libvirt-uri", "test:///default",
    )  # fmt: skip
    assert done.returncode != 0
    assert "this node is not enrolled" in done.stdout + done.stderr
    config = tomllib.loads((root / "etc/stratus/compute.toml").read_text())
    assert config["compute"]["state_dir"] == str(root / "var/lib/stratus-compute")
    assert not (root / "etc/systemd/system/stratus-compute.service").exists()
    # What the agent's sandbox may not set itself, for the network wiring, at every boot.
    modules = (root / "etc/modules-load.d/stratus-compute.conf").read_text().split("\n")
    assert {"br_netfilter", "vxlan"} <= set(modules)
    sysctls = (root / "etc/sysctl.d/60-stratus-compute.conf").read_text()
    assert "net.bridge.bridge-nf-call-iptables = 1" in sysctls
    assert "net.bridge.bridge-nf-call-ip6tables = 1" in sysctls
    missing = run("install-compute", "--root", str(root), "--no-systemd")
    assert missing.returncode != 0
    assert "--controller and --public-endpoint are needed" in missing.stderr
    run("install-compute", "--root", str(root), "--no-systemd", "--uninstall")
    assert not (root / "etc/modules-load.d/stratus-compute.conf").exists()
    assert not (root / "etc/sysctl.d/60-stratus-compute.conf").exists()


def host_copies(tmp_path: Path) -> tuple[Path, Path]:
    etc, var_lib = tmp_path / "etc", tmp_path / "var-lib"
    shutil.copytree("/etc", etc, symlinks=True)
    var_lib.mkdir()
    return etc, var_lib


def run_on_the_host(
    etc: Path, var_lib: Path, script_name: str, *flags: str, netns: str = ""
) -> subprocess.CompletedProcess:
    """The script without --root, in a private mount namespace over copies of /etc and
    /var/lib (and in `netns`, when given, for the kernel settings it applies)."""
    script = f'set -e; mount --bind {etc} /etc; mount --bind {var_lib} /var/lib; exec "$@"'
    path = os.environ.get("PYTHONPATH", "")
    inside = ["ip", "netns", "exec", netns] if netns else []
    return subprocess.run(
        [*inside, "unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
         str(ROOT / "scripts" / script_name), "--no-systemd", *flags],
        env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep + path if path else ''}"},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (a private mount namespace)")
def test_the_compute_install_turns_bridge_netfilter_on_for_the_wiring(tmp_path):
    """On a host, the kernel settings the node's sandboxed agent cannot make: applied now (in a
    network namespace standing for the host: these sysctls are per namespace) and for every
    boot. Enrollment then fails (no token), after them."""
    etc, var_lib = host_copies(tmp_path)
    netns = f"stratus-install-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        keys = ("net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables")
        for key in keys:
            subprocess.run(["ip", "netns", "exec", netns, "sysctl", "-qw", f"{key}=0"], check=True)
        done = run_on_the_host(
            etc, var_lib, "install-compute", "--controller", "127.0.0.1:1",
            "--public-endpoint", "127.0.0.1:1", "--libvirt-uri", "test:///default", netns=netns,
        )  # fmt: skip
        assert "this node is not enrolled" in done.stdout + done.stderr
        for key in keys:
            value = subprocess.run(
                ["ip", "netns", "exec", netns, "sysctl", "-n", key],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            assert value.stdout.strip() == "1", key
        assert "br_netfilter" in (etc / "modules-load.d/stratus-compute.conf").read_text()
        assert (etc / "sysctl.d/60-stratus-compute.conf").exists()
    finally:
        subprocess.run(["ip", "netns", "del", netns], check=False)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (a private mount namespace)")
def test_the_controller_install_as_on_a_host(tmp_path):
    """Without --root, as an operator runs it: the `stratus` system user, files in /etc and
    /var/lib owned as the unit needs them. In a private mount namespace over copies of /etc
    and an empty /var/lib, so this host's own are never touched."""
    etc, var_lib = host_copies(tmp_path)

    def on_the_host(*flags: str) -> subprocess.CompletedProcess:
        return run_on_the_host(etc, var_lib, "install-controller", *flags)

    done = on_the_host("--admin-password", PASSWORD, "--listen", "127.0.0.1:15000")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "created system user stratus" in done.stdout
    user = next(
        line for line in (etc / "passwd").read_text().splitlines() if line.startswith("stratus:")
    )
    uid, gid = int(user.split(":")[2]), int(user.split(":")[3])
    assert user.endswith(":/usr/sbin/nologin")
    config = tomllib.loads((etc / "stratus/controller.toml").read_text())
    assert config["controller"]["state_dir"] == "/var/lib/stratus"
    credential = etc / "stratus/credentials/database-url"
    assert credential.read_text().strip() == "sqlite:////var/lib/stratus/stratus.db"
    assert (credential.stat().st_uid, credential.stat().st_mode & 0o777) == (0, 0o600)
    # Everything in the state directory belongs to the service's user, keys kept private.
    state = var_lib / "stratus"
    for path in [state, *state.rglob("*")]:
        assert (path.stat().st_uid, path.stat().st_gid) == (uid, gid), path
    assert state.stat().st_mode & 0o777 == 0o750
    assert (state / "fernet-keys").stat().st_mode & 0o777 == 0o700
    unit = etc / "systemd/system/stratus-controller.service"
    assert "User=stratus" in unit.read_text()

    again = on_the_host("--admin-password", PASSWORD, "--listen", "127.0.0.1:15000")
    assert again.returncode == 0, again.stderr
    assert "created" not in again.stdout and "wrote" not in again.stdout

    gone = on_the_host("--uninstall", "--purge")
    assert gone.returncode == 0, gone.stderr
    assert not state.exists() and not unit.exists()
    assert "stratus:" not in (etc / "passwd").read_text()
