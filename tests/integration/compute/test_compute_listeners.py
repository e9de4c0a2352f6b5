"""Two controllers set up in one process (as tests and tools do) each tell their own network
area, once, of the servers their transactions move or release: the records' listeners
belong to the controller's Database, not to the process."""

import json
import subprocess
import sys

from tests.support.controller import ROOT, prepare, write_config

# Runs in a child process: peewee binds every model to one database per process, and this
# one's is the session controller's. The network port's methods are wrapped before the two
# controllers are built, so each registers the wrapper bound to its own port.
TWO_CONTROLLERS = """
import json, sys
from controller.app import App
from controller.compute.records import lifecycle
from controller.compute.records.models import Instance
from controller.config import Config
from controller.db.queries import utcnow
from controller.network.port import NetworkPort

told = []


def spy(name):
    method = getattr(NetworkPort, name)

    def wrapper(port, *args):
        told.append((name, port, args[0]))
        return method(port, *args)

    setattr(NetworkPort, name, wrapper)


spy("bind")
spy("release")
apps = [App(Config.load(sys.argv[1])) for _ in range(2)]
ports = [app.network_port for app in apps]


def moved_then_deleted(n):
    server_id = f"00000000-0000-0000-0000-00000000000{n}"
    now = utcnow()
    with apps[n].db.write_transaction():
        Instance.create(
            id=server_id, project_id="p", user_id="u", name="vm", flavor_id="f",
            flavor_name="f", vcpus=1, ram_mb=64, disk_gb=1, ephemeral_gb=0, swap_mb=0,
            image_id="i", vm_state="active", power_state="running", revision=0,
            created_at=now, updated_at=now,
        )
        lifecycle.change(server_id, node_id=f"node-{n}", host=f"host-{n}")
        lifecycle.mark_deleted(server_id)


for n, app in enumerate(apps):
    app.db.call(moved_then_deleted, n)
print(json.dumps([[name, ports.index(port), what] for name, port, what in told]))
"""


def test_each_controller_tells_its_own_network_area_once(tmp_path):
    config = write_config(tmp_path / "state")
    prepare(config)
    done = subprocess.run(
        [sys.executable, "-c", TWO_CONTROLLERS, str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    told = json.loads(done.stdout.splitlines()[-1])
    servers = [f"00000000-0000-0000-0000-00000000000{n}" for n in range(2)]
    assert told == [
        ["bind", 0, [[servers[0], "node-0", "host-0"]]],
        ["release", 0, [servers[0]]],
        ["bind", 1, [[servers[1], "node-1", "host-1"]]],
        ["release", 1, [servers[1]]],
    ]
