"""A private libvirt daemon for QEMU guests, with all of its state in one temporary directory.

As root, libvirtd runs in its own mount and network namespace (`unshare -m -n`): temporary
directories are bind-mounted over /etc/libvirt, /run/libvirt, /var/lib/libvirt,
/var/log/libvirt and /var/cache/libvirt, private copies over /etc/passwd and /etc/group add
the libvirt-qemu account where the host has none, and a tmpfs over /run/dbus keeps it away from the
host's machined and firewalld. The host's own libvirt configuration is never read or
written; a missing mount point is created empty. Guests get QEMU's user-mode network, which
needs no bridge. The client connects through a socket in the temporary directory:
`qemu+unix:///system?socket=<dir>/sock/libvirt-sock`.

Teardown destroys the domains first (a running QEMU survives its daemon's SIGTERM), kills
any QEMU left by the pid files the daemon wrote, then stops the daemon by its pid.
"""
from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
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
    missing = [tool for tool in needed
               if shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
               is None]
    if not glob.glob("/usr/lib/*/libvirt/connection-driver/libvirt_driver_qemu.so"):
        missing.append("libvirt-daemon-driver-qemu")
    return missing


class LibvirtDaemon:
    def __init__(self, base_dir: str | os.PathLike):
        self.base = Path(base_dir)
        self.socket = self.base / "sock" / "libvirt-sock"
        self.uri = f"qemu+unix:///system?socket={self.socket}"
        self.log_path = self.base / "libvirtd.log"
        self._process: subprocess.Popen | None = None

    # -- start ---------------------------------------------------------------------------

    def _write_config(self) -> Path:
        for name in [*_BIND_MOUNTS, "sock"]:
            (self.base / name).mkdir(parents=True, exist_ok=True)
        (self.base / "etc" / "qemu.conf").write_text(QEMU_CONF)
        conf = self.base / "libvirtd.conf"
        conf.write_text(
            f'unix_sock_dir = "{self.base / "sock"}"\n'
            'auth_unix_rw = "none"\n'
            'auth_unix_ro = "none"\n'
            'unix_sock_rw_perms = "0700"\n'
            f'log_outputs = "3:file:{self.base / "libvirtd-debug.log"}"\n')
        return conf

    def _accounts(self) -> tuple[Path, Path]:
        """Private copies of /etc/passwd and /etc/group with the accounts libvirt's QEMU
        driver resolves at start (it looks up its compiled-in default user before reading
        qemu.conf), so the host's account files are never changed."""
        passwd = Path("/etc/passwd").read_text()
        group = Path("/etc/group").read_text()
        used = {int(line.split(":")[2]) for line in (passwd + group).splitlines()
                if line.count(":") >= 3 and line.split(":")[2].isdigit()}
        free = next(n for n in range(64055, 65000) if n not in used)
        names = {line.split(":")[0] for line in group.splitlines()}
        for name in ("kvm", "libvirt-qemu"):
            if name not in names:
                group += f"{name}:x:{free}:\n"
                free = next(n for n in range(free + 1, 65000) if n not in used)
        if "libvirt-qemu:" not in passwd:
            gid = next(line.split(":")[2] for line in group.splitlines()
                       if line.startswith("libvirt-qemu:"))
            passwd += f"libvirt-qemu:x:{free}:{gid}::/var/lib/libvirt:/usr/sbin/nologin\n"
        paths = (self.base / "passwd", self.base / "group")
        paths[0].write_text(passwd)
        paths[1].write_text(group)
        return paths

    def _script(self, conf: Path) -> str:
        passwd, group = self._accounts()
        lines = ["set -e", f"mount --bind {passwd} /etc/passwd",
                 f"mount --bind {group} /etc/group"]
        for name, target in _BIND_MOUNTS.items():
            lines.append(f"mkdir -p {target}")
            lines.append(f"mount --bind {self.base / name} {target}")
        lines += ["mkdir -p /run/dbus", "mount -t tmpfs tmpfs /run/dbus",
                  "ip link set lo up 2>/dev/null || true",
                  f"exec libvirtd -f {conf} --pid-file {self.base / 'libvirtd.pid'}"]
        return "\n".join(lines)

    def start(self, timeout: float = 60.0) -> LibvirtDaemon:
        if os.geteuid() != 0:
            raise DaemonError("the private libvirt daemon needs root (it runs in its own "
                              "mount namespace)")
        missing = missing_tools()
        if missing:
            raise DaemonError(f"missing: {', '.join(missing)}")
        conf = self._write_config()
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(self.base),
               "LANG": "C.UTF-8"}
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                ["unshare", "--mount", "--net", "--propagation", "private",
                 "sh", "-c", self._script(conf)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                start_new_session=True)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_error = "no socket yet"
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise DaemonError(f"libvirtd exited with {self._process.returncode}: "
                                  f"{self.log_tail()}")
            if self.socket.exists():
                try:
                    conn = libvirt.open(self.uri)
                    conn.getCapabilities()
                    conn.close()
                    return
                except libvirt.libvirtError as exc:
                    last_error = exc.get_error_message()
            time.sleep(0.1)
        raise DaemonError(f"libvirtd not ready after {timeout} s ({last_error}): "
                          f"{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    # -- stop ----------------------------------------------------------------------------

    def _destroy_domains(self) -> None:
        try:
            conn = libvirt.open(self.uri)
        except libvirt.libvirtError:
            return
        try:
            for dom in conn.listAllDomains(0):
                try:
                    if dom.isActive():
                        dom.destroy()
                    dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
                except libvirt.libvirtError:
                    pass
        finally:
            conn.close()

    def _kill_leftover_qemu(self) -> None:
        for pid_file in (self.base / "run" / "qemu").glob("*.pid"):
            try:
                pid = int(pid_file.read_text().strip())
                os.kill(pid, signal.SIGKILL)
            except (ValueError, ProcessLookupError, PermissionError, FileNotFoundError):
                pass

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._destroy_domains()
        self._kill_leftover_qemu()
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def __enter__(self) -> LibvirtDaemon:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()
