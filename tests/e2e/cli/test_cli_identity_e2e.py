"""The identity commands, run as a user would run them, against a real controller."""

import json
import re
import stat
import uuid

import yaml

from tests.e2e.cli.conftest import Cli


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def token_files(cli):
    return sorted((cli.home / ".cache" / "stratus" / "tokens").glob("*.json"))


def test_token_issue_caches_a_private_token_that_the_next_command_reuses(cli):
    issued = cli.json("token", "issue")
    assert set(issued) == {"expires", "id", "project_id", "user_id"}
    [cache] = token_files(cli)
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert json.loads(cache.read_text())["token"] == issued["id"]
    cli("project", "list")
    assert json.loads(cache.read_text())["token"] == issued["id"]


def test_a_revoked_cached_token_is_replaced_without_the_user_noticing(cli):
    old = cli.value("token", "issue", "-c", "id")
    cli("--token", old, "token", "revoke", old)  # behind the cache's back
    cli("project", "list")
    [cache] = token_files(cli)
    assert json.loads(cache.read_text())["token"] not in ("", old)


def test_project_lifecycle_in_table_and_json(cli):
    name = unique("proj")
    created = cli.json("project", "create", name, "--description", "first")
    assert (created["name"], created["description"], created["enabled"]) == (name, "first", True)
    table = cli("project", "list").stdout.splitlines()
    assert re.fullmatch(r"\| ID +\| Name +\|", table[1])
    assert any(f"| {created['id']} | {name}" in line for line in table)
    cli("project", "set", name, "--description", "second", "--disable")
    shown = cli.json("project", "show", created["id"])
    assert (shown["description"], shown["enabled"]) == ("second", False)
    assert cli.value("project", "show", name, "-c", "description") == "second"
    cli("project", "delete", name)
    proc = cli("project", "show", name, expect=5)
    assert proc.stderr == f"stratus: error: no project with name or ID {name!r}\n"


def test_a_new_member_logs_in_from_clouds_yaml(cli, controller_process, tmp_path):
    project, user = unique("proj"), unique("user")
    cli("project", "create", project)
    cli("user", "create", user, "--password", "pw-of-the-user-1", "--project", project)
    cli("role", "add", "member", "--user", user, "--project", project)
    rows = cli.json("role", "assignment", "list", "--user", user, "--names")
    assert rows == [{"Role": "member", "User": user, "Project": project}]

    config = tmp_path / "member-home" / ".config" / "stratus"
    config.mkdir(parents=True)
    (config / "clouds.yaml").write_text(
        yaml.safe_dump(
            {
                "clouds": {
                    "lab": {
                        "auth": {
                            "auth_url": controller_process.address,
                            "username": user,
                            "password": "pw-of-the-user-1",
                            "project_name": project,
                        }
                    }
                }
            }
        )
    )
    member = Cli(tmp_path / "member-home", {})
    issued = member.json("--cloud", "lab", "token", "issue")
    assert issued["project_id"] == cli.value("project", "show", project, "-c", "id")
    # the environment overrides the cloud, and a flag the environment
    proc = member(
        "--cloud", "lab", "token", "issue", expect=4, env={"STRATUS_PASSWORD": "wrong-password"}
    )
    assert proc.stderr.startswith("stratus: UNAUTHENTICATED: ")
    member(
        "--cloud",
        "lab",
        "--password",
        "pw-of-the-user-1",
        "token",
        "issue",
        env={"STRATUS_PASSWORD": "wrong-password"},
    )
    # a member may not list users: a permission error, one line, exit code 4
    proc = member("--cloud", "lab", "user", "list", expect=4)
    assert proc.stderr.startswith("stratus: PERMISSION_DENIED: ")
    assert proc.stderr.count("\n") == 1
    # a refused lookup is told as part of what was asked, not as a bare policy rule
    proc = member(
        "--cloud",
        "lab",
        "user",
        "create",
        unique("user"),
        "--password",
        "pw-2",
        "--project",
        project,
        expect=4,
    )
    assert proc.stderr.startswith(
        f"stratus: PERMISSION_DENIED: user create: you may not look up project {project!r}: "
    )
    assert proc.stderr.count("\n") == 1

    cli("role", "remove", "member", "--user", user, "--project", project)
    assert cli.json("role", "assignment", "list", "--user", user) == []
    cli("user", "delete", user)
    cli("project", "delete", project)


def test_a_cached_token_serves_only_the_credentials_that_made_it(cli, controller_process, tmp_path):
    project, user = unique("proj"), unique("user")
    cli("project", "create", project)
    cli("user", "create", user, "--password", "pw-of-the-user-1", "--project", project)
    cli("role", "add", "member", "--user", user, "--project", project)
    clouds = tmp_path / "member-home" / ".config" / "stratus" / "clouds.yaml"
    clouds.parent.mkdir(parents=True)

    def write_clouds(password):
        clouds.write_text(
            yaml.safe_dump(
                {
                    "clouds": {
                        "lab": {
                            "auth": {
                                "auth_url": controller_process.address,
                                "username": user,
                                "password": password,
                                "project_name": project,
                            }
                        }
                    }
                }
            )
        )

    write_clouds("pw-of-the-user-1")
    member = Cli(tmp_path / "member-home", {})
    member("--cloud", "lab", "catalog", "list")
    [cache] = token_files(member)
    token = json.loads(cache.read_text())["token"]
    assert "pw-of-the-user-1" not in cache.read_text()

    proc = member("--cloud", "lab", "--password", "wrong-password", "catalog", "list", expect=4)
    assert proc.stderr.startswith("stratus: UNAUTHENTICATED: ")
    write_clouds("wrong-password")
    proc = member("--cloud", "lab", "catalog", "list", expect=4)
    assert proc.stderr.startswith("stratus: UNAUTHENTICATED: ")
    proc = member(
        "--cloud", "lab", "catalog", "list", expect=4, env={"STRATUS_PASSWORD": "another-wrong-one"}
    )
    # the right password again: the token it made is still the one used
    member("--cloud", "lab", "--password", "pw-of-the-user-1", "catalog", "list")
    assert token_files(member) == [cache] and json.loads(cache.read_text())["token"] == token
    cli("user", "delete", user)
    cli("project", "delete", project)


def test_services_endpoints_and_the_catalog(cli):
    name = unique("svc")
    service = cli.json("service", "create", "object-store", "--name", name)
    endpoint = cli.json(
        "endpoint", "create", name, "public", "grpc://store.example:1", "--region", "r2"
    )
    assert (endpoint["service_name"], endpoint["interface"], endpoint["region"]) == (
        name,
        "public",
        "r2",
    )
    listed = cli.json("endpoint", "list", "--service", service["id"])
    assert [(e["Service Name"], e["Interface"], e["URL"]) for e in listed] == [
        (name, "public", "grpc://store.example:1")
    ]
    cli("endpoint", "set", endpoint["id"], "--url", "grpc://store.example:2")
    catalog = cli.json("catalog", "list")
    entry = next(e for e in catalog if e["Name"] == name)
    assert entry["Type"] == "object-store"
    assert "public: grpc://store.example:2" in entry["Endpoints"]
    cli("endpoint", "delete", endpoint["id"])
    cli("service", "delete", name)
    assert name not in cli.value("service", "list", "-c", "Name").split()


def test_bad_input_is_one_line_naming_the_field(cli):
    proc = cli("project", "create", " ", expect=1)
    assert proc.stderr.startswith("stratus: INVALID_ARGUMENT: project.name: must not be empty.")
    assert proc.stderr.count("\n") == 1 and proc.stdout == ""
    name = unique("proj")
    cli("project", "create", name)
    proc = cli("project", "create", name, expect=1)
    assert proc.stderr.startswith("stratus: ALREADY_EXISTS: ")


def test_usage_configuration_and_connection_errors_have_their_exit_codes(cli, tmp_path):
    assert "invalid choice" in cli("project", "frobnicate", expect=2).stderr
    assert "required: --user" in cli("role", "add", "member", expect=2).stderr
    bare = Cli(tmp_path / "bare", {})
    (tmp_path / "bare").mkdir()
    proc = bare("project", "list", expect=3)
    assert proc.stderr == (
        "stratus: error: no API address: set STRATUS_URL, pass --url, or "
        "choose a cloud with --cloud\n"
    )
    proc = cli("--url", "127.0.0.1:1", "project", "list", expect=6)
    assert proc.stderr.startswith("stratus: UNAVAILABLE: ")
    assert "running at 127.0.0.1:1" in proc.stderr
