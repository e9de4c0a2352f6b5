"""Fixtures of the identity tests: shared tenants, and real controller processes when a test
needs a configuration of its own (one per xdist worker, started on first use)."""

import pytest

from tests.integration.identity.processes import Databases, Spawner, Template

CUSTOM = """[identity]
lockout_failure_attempts = 3
lockout_duration = 600
token_expiration = 7200
[policy]
file = "{state}/policy.yaml"
"""
# One rule made stricter, one looser than the defaults (rule:authenticated, rule:admin_required).
POLICY = """# policy overrides
"identity:list_roles": "rule:admin_required"
"identity:list_users": "rule:admin_required or role:reader"
"""


@pytest.fixture(scope="session")
def databases(database_server, tmp_path_factory):
    return Databases(tmp_path_factory.mktemp("identity-dbs"), database_server)


@pytest.fixture(scope="session")
def template(tmp_path_factory, databases):
    return Template(tmp_path_factory.mktemp("identity-template"), databases)


@pytest.fixture(scope="session")
def session_spawner(tmp_path_factory, template):
    spawner = Spawner(tmp_path_factory.mktemp("identity-procs"), template)
    yield spawner
    spawner.close()


@pytest.fixture
def spawner(tmp_path, template):
    """For tests about processes: their processes are stopped at the end of the test."""
    spawner = Spawner(tmp_path, template)
    yield spawner
    spawner.close()


@pytest.fixture(scope="session")
def custom_config(session_spawner):
    return session_spawner.config(CUSTOM, name="custom", files={"policy.yaml": POLICY})


@pytest.fixture(scope="session")
def custom(session_spawner, custom_config):
    """A controller process with a configuration of its own: lockout after 3 failures for 10
    minutes, 7200 s tokens, a policy file overriding two rules. The bootstrap admin is its only
    admin, so last-administrator rules are deterministic there."""
    return session_spawner.cloud(session_spawner.start(custom_config))


@pytest.fixture(scope="session")
def member(cloud):
    """A member of a project of its own, shared by tests that only read."""
    return cloud.tenant("member")


@pytest.fixture(scope="session")
def reader(cloud):
    return cloud.tenant("reader")


@pytest.fixture(scope="session")
def victims(cloud):
    from tests.integration.identity.helpers import Victims

    return Victims(cloud)
