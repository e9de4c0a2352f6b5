"""Configuration that changes identity's behaviour, on real controller processes: a policy file
overriding single rules, a malformed policy file stopping the start, the token life."""

import datetime
import time

import grpc
import pytest

from controller.auth.token_format import TokenFormatter
from controller.identity.service import key_repository
from stratus.identity.v1 import identity_service_pb2 as ipb
from tests.integration.identity.helpers import bearer, issue
from tests.support.controller import ADMIN_PASSWORD, ControllerProcess
from tests.support.errors import raises

DENIED = grpc.StatusCode.PERMISSION_DENIED


@pytest.fixture(scope="module")
def custom_tenants(custom):
    return custom.tenant("member"), custom.tenant("reader")


def test_policy_file_overrides_take_effect(custom, custom_tenants):
    member, reader = custom_tenants
    # Stricter: listing roles is the admin's alone.
    with raises(DENIED, "POLICY_DENIED"):
        custom.identity.ListRoles(ipb.ListRolesRequest(), metadata=member.metadata)
    assert custom.identity.ListRoles(ipb.ListRolesRequest(), metadata=custom.admin).roles
    # Looser: a reader may list users.
    names = [
        u.name
        for u in custom.identity.ListUsers(ipb.ListUsersRequest(), metadata=reader.metadata).users
    ]
    assert "admin" in names and reader.user_name in names
    # Rules the file does not name keep their defaults.
    with raises(DENIED, "POLICY_DENIED"):
        custom.identity.ListUsers(ipb.ListUsersRequest(), metadata=member.metadata)
    with raises(DENIED, "POLICY_DENIED"):
        custom.identity.CreateRole(
            ipb.CreateRoleRequest(role=ipb.Role(name="nope")), metadata=reader.metadata
        )
    assert custom.identity.GetUser(
        ipb.GetUserRequest(id=member.user_id), metadata=member.metadata
    ).id


def test_without_the_file_the_defaults_apply(cloud, member, reader):
    assert cloud.identity.ListRoles(ipb.ListRolesRequest(), metadata=member.metadata).roles
    with raises(DENIED, "POLICY_DENIED"):
        cloud.identity.ListUsers(ipb.ListUsersRequest(), metadata=reader.metadata)


def test_token_life_comes_from_the_configuration(custom):
    info = issue(custom, "admin", ADMIN_PASSWORD, "admin").info
    assert info.expire_time.seconds - info.issue_time.seconds in (7199, 7200)


def test_a_cached_token_stops_working_when_it_expires(cloud, controller):
    # A token of the session controller's own keys that lives two seconds; using it once puts
    # its validation in the controller's cache, which must still honour the expiry.
    admin = cloud.identity.ValidateToken(
        ipb.ValidateTokenRequest(token=cloud.admin_token), metadata=cloud.admin
    ).info
    expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=2)
    token, _ = TokenFormatter(key_repository(controller.app.config)).issue(
        admin.user_id, admin.project_id, ("password",), expires
    )
    assert cloud.identity.ListRoles(ipb.ListRolesRequest(), metadata=bearer(token)).roles
    time.sleep(max((expires - datetime.datetime.now(datetime.UTC)).total_seconds(), 0) + 0.1)
    with raises(grpc.StatusCode.UNAUTHENTICATED, "TOKEN_EXPIRED"):
        cloud.identity.ListRoles(ipb.ListRolesRequest(), metadata=bearer(token))


MALFORMED = {
    "syntax.yaml": (
        (
            '"identity:list_roles": "rule:admin_required"\n'
            '"identity:get_user": "role:admin and (user_id:%(user_id)s"\n'
        ),
        2,
        "missing ')'",
    ),
    "unknown-rule.yaml": (
        (
            '# comment\n\n"identity:get_user": "rule:admin_required"\n'
            '"identity:list_users": "rule:no_such_rule"\n'
        ),
        4,
        "unknown rule 'no_such_rule'",
    ),
    "not-yaml.yaml": (
        '"identity:get_user": "role:admin"\n"identity:list_users": [role:admin\n',
        3,
        "not valid YAML",
    ),
}


@pytest.mark.parametrize("file_name", list(MALFORMED))
def test_malformed_policy_file_stops_the_start_naming_the_line(custom_config, tmp_path, file_name):
    text, line, detail = MALFORMED[file_name]
    policy = tmp_path / file_name
    policy.write_text(text)
    config = tmp_path / "controller.toml"
    config.write_text(
        custom_config.read_text().replace(f"{custom_config.parent}/policy.yaml", str(policy))
    )
    process = ControllerProcess(config, tmp_path / "controller.log")
    with pytest.raises(RuntimeError, match="controller exited"):
        process.start()
    assert process.proc.returncode != 0
    log = (tmp_path / "controller.log").read_text()
    assert f"{policy}:{line}:" in log and detail in log
    assert "public listener serving" not in log


def _with_event_loop(config, tmp_path, loop: str):
    path = tmp_path / "controller.toml"
    path.write_text(
        config.read_text().replace("[controller]\n", f'[controller]\nevent_loop = "{loop}"\n', 1)
    )
    return path


def test_the_plain_asyncio_loop_serves_too(session_spawner, custom_config, tmp_path):
    # Every other controller process of the suite runs the default loop, uvloop.
    process = session_spawner.start(_with_event_loop(custom_config, tmp_path, "asyncio"))
    cloud = session_spawner.cloud(process)
    info = issue(cloud, "admin", ADMIN_PASSWORD, "admin").info
    assert (
        cloud.identity.GetProject(
            ipb.GetProjectRequest(id=info.project_id), metadata=cloud.admin
        ).name
        == "admin"
    )
    assert "event_loop=asyncio" in process.log_path.read_text()


def test_an_unknown_event_loop_stops_the_start(custom_config, tmp_path):
    process = ControllerProcess(
        _with_event_loop(custom_config, tmp_path, "gevent"), tmp_path / "controller.log"
    )
    with pytest.raises(RuntimeError, match="controller exited"):
        process.start()
    assert process.proc.returncode != 0
    assert (
        'event_loop must be "uvloop" or "asyncio", not \'gevent\''
        in (tmp_path / "controller.log").read_text()
    )
