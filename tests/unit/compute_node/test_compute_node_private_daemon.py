"""The private libvirt daemon is found again by its pid file, and never mistaken for
another process that has the pid now."""

import subprocess

from compute_node.drivers.libvirt.private_daemon import LibvirtDaemon, main


def test_a_pid_file_naming_another_process_is_not_the_daemon(tmp_path):
    daemon = LibvirtDaemon(tmp_path / "libvirt")
    assert daemon.pid() is None  # nothing there yet
    daemon.pid_file.parent.mkdir(parents=True)
    stranger = subprocess.Popen(["sleep", "30"])
    try:
        daemon.pid_file.write_text(f"{stranger.pid}\n")
        assert daemon.pid() is None
        daemon.stop(shutdown_timeout=0)  # nothing of ours to stop: the stranger lives on
        assert stranger.poll() is None
        assert not daemon.pid_file.exists()
    finally:
        stranger.kill()
        stranger.wait()


def test_status_says_not_running_with_its_own_exit_code(tmp_path, capsys):
    assert main(["status", str(tmp_path / "libvirt")]) == 3
    assert capsys.readouterr().out == "not running\n"
