"""A private libvirt daemon for QEMU guests, with all of its state in one directory.

For hosts where no libvirtd answers (a fresh machine, a container: systemd is not there to
start one) and for tests. libvirtd runs as root in its own mount namespace (`unshare -m`):
directories under DIR are bind-mounted over /etc/libvirt, /run/libvirt, /var/lib/libvirt,
/var/log/libvirt and /var/cache/libvirt, private copies over /etc/passwd and /etc/group add
the libvirt-qemu account where the host has none, and a tmpfs over /run/dbus keeps it away
from the host's machined and firewalld. The host's own libvirt configuration is never read or
written; a missing mount point is created empty (in the namespace only). With
`private_network` it also gets its own network namespace (tests: guests then reach nothing
outside); without, guests' user-mode networks live in the host's, as with a system libvirtd.

    DIR/sock/libvirt-sock     the socket: qemu+unix:///system?socket=DIR/sock/libvirt-sock
    DIR/libvirtd.pid          the daemon's pid (it is the process `start` launched)
    DIR/libvirtd.log          its output; DIR/libvirtd-debug.log its warnings and errors
    DIR/etc, lib, run, ...    what it believes are /etc/libvirt, /var/lib/libvirt, ...

The daemon outlives the process that started it; `stop` finds it again by its pid file, from
any process. Stopping shuts the guests down cleanly first (ACPI, up to a timeout, then a
hard power off: a running QEMU survives its daemon's SIGTERM), kills any QEMU left in the pid
files the daemon wrote, then ends the daemon. Domains stay defined: the next start sees them,
shut off.

    python3 -m compute_node.drivers.libvirt.private_daemon start|stop|status DIR
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import libvirt

_BIND_MOUNTS = {
    "etc": "/etc/libvirt",
    "run": "/run/libvirt",
    "lib": "/var/lib/libvirt",
    "log": "/var/log/libvirt",
    "cache": "/var/cache/libvirt",
}
SYSTEM_URI = "qemu:///system"
_POLL = 0.1

QEMU_CONF = """\
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
"""


class DaemonError(RuntimeError):
    pass


def missing_tools() -> list[str]:
    """What this host lacks to run the daemon (empty when everything is there)."""
    needed = ["qemu-system-x86_64", "qemu-img", "libvirtd", "unshare"]
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    missing = [tool for tool in needed if shutil.which(tool, path=path) is None]
    if not glob.glob("/usr/lib/*/libvirt/connection-driver/libvirt_driver_qemu.so"):
        missing.append("libvirt-daemon-driver-qemu")
    return missing


def answers(uri: str) -> bool:
    """Does a libvirt daemon answer at `uri`?"""
    try:
        conn = libvirt.open(uri)
    except libvirt.libvirtError:
        return False
    try:
        conn.getCapabilities()
        return True
    except libvirt.libvirtError:
        return False
    finally:
        conn.close()


def _alive(pid: int) -> bool:
    """Running, and not a zombie waiting for its parent."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


class LibvirtDaemon:
    def __init__(self, base_dir: str | os.PathLike[str], *, private_network: bool = False) -> None:
        self.base = Path(base_dir).absolute()
        self.private_network = private_network
        self.socket = self.base / "sock" / "libvirt-sock"
        self.uri = f"qemu+unix:///system?socket={self.socket}"
        self.conf = self.base / "libvirtd.conf"
        self.pid_file = self.base / "libvirtd.pid"
        self.log_path = self.base / "libvirtd.log"
        self._process: subprocess.Popen[bytes] | None = None

    # -- start ---------------------------------------------------------------------------

    def _write_config(self) -> None:
        for name in [*_BIND_MOUNTS, "sock"]:
            (self.base / name).mkdir(parents=True, exist_ok=True)
        (self.base / "etc" / "qemu.conf").write_text(QEMU_CONF)
        self.conf.write_text(
            f'unix_sock_dir = "{self.base / "sock"}"\n'
            'auth_unix_rw = "none"\n'
            'auth_unix_ro = "none"\n'
            'unix_sock_rw_perms = "0700"\n'
            f'log_outputs = "3:file:{self.base / "libvirtd-debug.log"}"\n'
        )

    def _accounts(self) -> tuple[Path, Path]:
        """Private copies of /etc/passwd and /etc/group with the accounts libvirt's QEMU
        driver resolves at start (it looks up its compiled-in default user before reading
        qemu.conf), so the host's account files are never changed."""
        passwd = Path("/etc/passwd").read_text()
        group = Path("/etc/group").read_text()
        used = {
            int(line.split(":")[2])
            for line in (passwd + group).splitlines()
            if line.count(":") >= 3 and line.split(":")[2].isdigit()
        }
        free = next(n for n in range(64055, 65000) if n not in used)
        names = {line.split(":")[0] for line in group.splitlines()}
        for name in ("kvm", "libvirt-qemu"):
            if name not in names:
                group += f"{name}:x:{free}:\n"
                free = next(n for n in range(free + 1, 65000) if n not in used)
        if "libvirt-qemu:" not in passwd:
            gid = next(
                line.split(":")[2]
                for line in group.splitlines()
                if line.startswith("libvirt-qemu:")
            )
            passwd += f"libvirt-qemu:x:{free}:{gid}::/var/lib/libvirt:/usr/sbin/nologin\n"
        paths = (self.base / "passwd", self.base / "group")
        paths[0].write_text(passwd)
        paths[1].write_text(group)
        return paths

    def _script(self) -> str:
        passwd, group = self._accounts()
        lines = ["set -e", f"mount --bind {passwd} /etc/passwd", f"mount --bind {group} /etc/group"]
        for name, target in _BIND_MOUNTS.items():
            lines.append(f"mkdir -p {target}")
            lines.append(f"mount --bind {self.base / name} {target}")
        lines += ["mkdir -p /run/dbus", "mount -t tmpfs tmpfs /run/dbus"]
        if self.private_network:
            lines.append("ip link set lo up 2>/dev/null || true")
        # `exec`: the daemon is the process launched, so its pid is the one we know.
        lines.append(f"exec libvirtd -f {self.conf} --pid-file {self.pid_file}")
        return "\n".join(lines)

    def start(self, timeout: float = 60.0) -> LibvirtDaemon:
        """Start the daemon and return once it answers; a daemon of this directory that is
        running already is kept."""
        if self.pid() is not None:
            self._wait_ready(timeout)
            return self
        if os.geteuid() != 0:
            raise DaemonError(
                "the private libvirt daemon needs root (it runs in its own mount namespace)"
            )
        missing = missing_tools()
        if missing:
            raise DaemonError(f"missing: {', '.join(missing)} (scripts/install-deps installs them)")
        self._write_config()
        self.pid_file.unlink(missing_ok=True)
        self.socket.unlink(missing_ok=True)
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(self.base), "LANG": "C.UTF-8"}
        unshare = ["unshare", "--mount", "--propagation", "private"]
        if self.private_network:
            unshare.append("--net")
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                [*unshare, "sh", "-c", self._script()],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{self._process.pid}\n")
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop(shutdown_timeout=0)
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._exited():
                raise DaemonError(f"libvirtd exited: {self.log_tail()}")
            if self.socket.exists() and answers(self.uri):
                return
            time.sleep(_POLL)
        raise DaemonError(f"libvirtd did not answer within {timeout} s: {self.log_tail()}")

    def _exited(self) -> bool:
        # The daemon we started is asked directly: its pid file is briefly empty while
        # libvirtd takes it over (truncated, then written), which is no exit.
        if self._process is not None:
            return self._process.poll() is not None
        return self.pid() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    # -- find ----------------------------------------------------------------------------

    def pid(self) -> int | None:
        """The daemon's pid if it runs: the pid file names a live libvirtd started with
        this directory's configuration (so a reused pid is never taken for it)."""
        try:
            pid = int(self.pid_file.read_text().split()[0])
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except (FileNotFoundError, ValueError, IndexError):
            return None
        started_by_us = self._process is not None and self._process.pid == pid
        ours = str(self.conf).encode() in argv or started_by_us
        return pid if ours and _alive(pid) else None

    # -- stop ----------------------------------------------------------------------------

    def stop_guests(self, shutdown_timeout: float) -> list[str]:
        """Shut every running guest down: an ACPI shutdown each, then a hard power off for
        those still running after `shutdown_timeout` seconds. The names stopped."""
        try:
            conn = libvirt.open(self.uri)
        except libvirt.libvirtError:
            return []
        try:
            running = conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
            for dom in running if shutdown_timeout > 0 else ():
                # gone already, or no ACPI: powered off below
                with contextlib.suppress(libvirt.libvirtError):
                    dom.shutdown()
            deadline = time.monotonic() + shutdown_timeout
            while time.monotonic() < deadline and any(_active(d) for d in running):
                time.sleep(_POLL * 5)
            for dom in running:
                if _active(dom):
                    with contextlib.suppress(libvirt.libvirtError):
                        dom.destroy()
            return [dom.name() for dom in running]
        finally:
            conn.close()

    def _kill_leftover_qemu(self) -> None:
        for pid_file in (self.base / "run" / "qemu").glob("*.pid"):
            with contextlib.suppress(
                ValueError, ProcessLookupError, PermissionError, FileNotFoundError
            ):
                os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)

    def stop(self, shutdown_timeout: float = 60.0, timeout: float = 15.0) -> None:
        """Guests first (see stop_guests), then the daemon by its pid."""
        pid = self.pid()
        if pid is not None:
            self.stop_guests(shutdown_timeout)
        self._kill_leftover_qemu()
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            if not self._wait_exit(pid, timeout):
                os.kill(pid, signal.SIGKILL)
                self._wait_exit(pid, timeout)
        self._process = None
        self.pid_file.unlink(missing_ok=True)
        self.socket.unlink(missing_ok=True)  # libvirtd leaves it behind

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                return True
            if not _alive(pid):
                return True
            time.sleep(_POLL)
        return False

    def __enter__(self) -> LibvirtDaemon:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop(shutdown_timeout=0)


def _active(dom: libvirt.virDomain) -> bool:
    try:
        return bool(dom.isActive())
    except libvirt.libvirtError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m compute_node.drivers.libvirt.private_daemon",
        description="Start, stop or show a private libvirt daemon kept in DIR.",
    )
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("dir", type=Path)
    parser.add_argument(
        "--shutdown-timeout",
        type=float,
        default=60.0,
        help="stop: seconds each guest gets to shut down (default 60)",
    )
    parser.add_argument(
        "--private-network",
        action="store_true",
        help="start: give the daemon and its guests their own network namespace",
    )
    args = parser.parse_args(argv)
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)  # errors are exceptions here
    daemon = LibvirtDaemon(args.dir, private_network=args.private_network)
    try:
        if args.action == "start":
            daemon.start()
            print(daemon.uri)
        elif args.action == "stop":
            daemon.stop(shutdown_timeout=args.shutdown_timeout)
        else:
            pid = daemon.pid()
            print(f"running (pid {pid}) at {daemon.uri}" if pid else "not running")
            return 0 if pid else 3
    except DaemonError as exc:
        print(f"private libvirt daemon: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
