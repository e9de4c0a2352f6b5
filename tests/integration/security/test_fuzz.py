"""Generated and malformed requests to every public RPC, as an admin, a member and another
project's member: never INTERNAL or UNKNOWN, and a refused request changes no row of any table.

The controller is a process of its own with its own database (SQLite here; PostgreSQL when
STRATUS_TEST_DATABASE=postgresql), so the tables hold nothing but this suite's doing. The run
is bounded and repeatable: a fixed derandomized seed and a few examples per method
(STRATUS_FUZZ_EXAMPLES); `python -m bench.fuzz` searches longer.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.integration.security import rpc_calls
from tests.integration.security.fuzzing import FUZZ_CALLERS, FuzzTarget, describe
from tests.integration.security.table_snapshot import difference

EXAMPLES = int(os.environ.get("STRATUS_FUZZ_EXAMPLES", "10"))
BOUNDED = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    # no shrinking: a failure prints its example as found, within the bound
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
METHODS = sorted(rpc_calls.METHODS)


@pytest.fixture(scope="module")
def target(database_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    if database_server is not None:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        url = database_server.create_database(f"stratus_fuzz_{worker}")
    else:
        url = f"sqlite:///{root}/fuzz.db"
    fuzz = FuzzTarget(root, url)
    yield fuzz
    fuzz.close()


def _check(target, method, data, raw):
    caller = data.draw(st.sampled_from(FUZZ_CALLERS), label="caller")
    request = data.draw(target.requests(method, raw), label="request")
    problem = target.check(method, caller, request, raw=raw)
    assert problem is None, (
        f"{method} as {caller}: {problem}\nrequest: {describe(request)}\n"
        f"controller's last error:\n{target.errors_logged()}"
    )


@pytest.mark.parametrize("method", METHODS)
@BOUNDED
@given(data=st.data())
def test_generated_messages(target, method, data):
    _check(target, method, data, raw=False)


@pytest.mark.parametrize("method", METHODS)
@BOUNDED
@given(data=st.data())
def test_malformed_bytes(target, method, data):
    _check(target, method, data, raw=True)


def test_the_snapshot_sees_a_change_in_any_table(target):
    """The guard of every refused call above can fail: a write shows in the comparison."""
    before = target.tables.take()
    target.world.new_key_pair()
    assert list(difference(before, target.tables.take())) == ["key_pair"]
