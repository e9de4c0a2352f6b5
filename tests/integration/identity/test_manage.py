"""`stratus-manage` as operators run it: db sync, bootstrap, token key rotation."""

import datetime
import shutil

import grpc
import pytest

from controller.auth.fernet_keys import KeyRepository
from controller.auth.token_format import TokenFormatter
from stratus.identity.v1 import identity_service_pb2 as ipb
from tests.integration.identity.helpers import bearer, issue
from tests.integration.identity.processes import database_url, manage
from tests.support.controller import ADMIN_PASSWORD, ControllerProcess, manage_many, write_config
from tests.support.errors import raises
from tests.support.sql import execute

TABLES = (
    "user_account",
    "project",
    "role",
    "role_assignment",
    "catalog_service",
    "catalog_endpoint",
)


def _ok(done):
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def fresh(tmp_path, databases):
    """A configuration on an empty database."""
    return write_config(tmp_path / "state", databases.new())


def test_db_sync_is_idempotent(fresh):
    first, second, version = manage_many(fresh, ["db", "sync"], ["db", "sync"], ["db", "version"])
    assert "applied 0001 identity" in _ok(first)
    assert _ok(second).startswith("database schema is up to date")
    numbers = _ok(version).split()
    assert numbers[0] == "database:" and numbers[1].rstrip(",") == numbers[3]


def test_a_newer_schema_is_refused(fresh, tmp_path):
    _ok(manage(fresh, "db", "sync"))
    url = database_url(fresh)
    execute(
        url,
        "INSERT INTO schema_history (version, name, applied_at) VALUES (?, ?, ?)",
        (9999, "from_the_future", "2100-01-01 00:00:00"),
    )
    refused = manage(fresh, "db", "sync")
    assert refused.returncode == 1
    assert (
        "version 9999, newer than this code knows" in refused.stderr and "upgrade" in refused.stderr
    )
    # Nothing was undone: the future version is still recorded.
    assert execute(url, "SELECT MAX(version) FROM schema_history") == [(9999,)]
    # The controller refuses to serve on it too, saying why.
    process = ControllerProcess(fresh, tmp_path / "controller.log")
    with pytest.raises(RuntimeError, match="controller exited"):
        process.start()
    assert "newer than this code knows" in (tmp_path / "controller.log").read_text()


def _counts(url):
    return {table: execute(url, f"SELECT COUNT(*) FROM {table}")[0][0] for table in TABLES}


def test_bootstrap_is_idempotent(fresh):
    url = "grpc://controller.example:5000"
    fresh.write_text(fresh.read_text() + "[identity]\nminimum_password_length = 12\n")
    sync, short, first = manage_many(
        fresh,
        ["db", "sync"],
        ["bootstrap", "--admin-password", "elevenchars"],
        ["bootstrap", "--admin-password", ADMIN_PASSWORD, "--public-url", url],
    )
    _ok(sync)
    # The configured minimum applies to the first admin's password too.
    assert (
        short.returncode == 1 and "admin-password: must be at least 12 characters" in short.stderr
    )
    first = _ok(first).splitlines()
    assert "created user admin" in first and "created role reader" in first
    db = database_url(fresh)
    counts = _counts(db)
    assert counts == {
        "user_account": 1,
        "project": 1,
        "role": 3,
        "role_assignment": 1,
        "catalog_service": 3,
        "catalog_endpoint": 9,
    }
    assert execute(db, "SELECT DISTINCT url FROM catalog_endpoint") == [(url,)]
    hashes = execute(db, "SELECT password_hash FROM user_account")
    assert ADMIN_PASSWORD not in str(hashes) and hashes[0][0].startswith("scrypt$")

    # A second run, even with another password or URL, changes nothing and says so.
    second = _ok(
        manage(
            fresh,
            "bootstrap",
            "--admin-password",
            "another-password-1",
            "--public-url",
            "grpc://elsewhere.example:6000",
        )
    ).splitlines()
    assert second[-1] == "nothing to do: the cloud was already bootstrapped"
    assert f"exists  endpoint compute admin RegionOne {url}" in second
    assert all(line.startswith("exists") for line in second[:-1]) and len(second) == len(first) + 1
    assert _counts(db) == counts
    assert execute(db, "SELECT password_hash FROM user_account") == hashes


def test_rotate_keys_keeps_tokens_valid_on_a_running_controller(spawner, tmp_path):
    # No validation cache, so every call really decrypts with the keys on disk.
    config = spawner.config("[identity]\ntoken_cache_seconds = 0\n")
    cloud = spawner.cloud(spawner.start(config))
    keys_dir = config.parent / "fernet-keys"
    old = issue(cloud, "admin", ADMIN_PASSWORD, "admin")

    # Keystone's model: another controller sharing the repository that rotated first issues
    # tokens with the staged key, which this one already accepts before it rotates.
    ahead = tmp_path / "ahead"
    shutil.copytree(keys_dir, ahead)
    KeyRepository(ahead).rotate()
    early, _ = TokenFormatter(KeyRepository(ahead)).issue(
        old.info.user_id,
        old.info.project_id,
        ("password",),
        old.info.expire_time.ToDatetime(datetime.UTC),
    )
    assert cloud.identity.ListRoles(ipb.ListRolesRequest(), metadata=bearer(early)).roles

    setup, rotate = manage_many(config, ["token", "setup-keys"], ["token", "rotate-keys"])
    assert "kept existing" in _ok(setup) and "new primary key 2" in _ok(rotate)
    new = issue(cloud, "admin", ADMIN_PASSWORD, "admin")
    for token in (old.token, early, new.token):
        assert cloud.identity.ListRoles(ipb.ListRolesRequest(), metadata=bearer(token)).roles

    # With max_active_keys = 3, a second rotation drops key 1, which signed the oldest token.
    _ok(manage(config, "token", "rotate-keys"))
    assert sorted(p.name for p in keys_dir.iterdir() if p.name.isdigit()) == ["0", "2", "3"]
    with raises(grpc.StatusCode.UNAUTHENTICATED, "TOKEN_INVALID"):
        cloud.identity.ListRoles(ipb.ListRolesRequest(), metadata=bearer(old.token))
    for token in (early, new.token):
        assert cloud.identity.ListRoles(ipb.ListRolesRequest(), metadata=bearer(token)).roles
