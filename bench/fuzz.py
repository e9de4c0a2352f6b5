"""A longer fuzzing run than the test suite's: every public RPC, more examples, new seeds.

    python -m bench.fuzz [--examples N] [--minutes M] [--seed S] [--postgres] [--only TEXT]

Runs the engine of tests/integration/security against a fresh controller process, in rounds:
each round gives every method N generated messages and N malformed payloads, with a new seed,
until M minutes have passed. Unlike the tests it does not stop at the first failure: it
prints each class of failure (method, kind, code and message) once, with its count and the
first example, and exits 1 when there was any.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from tests.integration.security import rpc_calls
from tests.integration.security.fuzzing import FUZZ_CALLERS, FuzzTarget, describe

# ids, numbers and quoted values vary between examples of one class of failure
_VARIES = re.compile(r"[0-9a-f]{8}-[0-9a-f-]{27}|req-\S+|\d+|'[^']*'|\"[^\"]*\"")


def failure_class(method: str, raw: bool, problem: str) -> str:
    first_line = problem.splitlines()[0][:160]
    return f"{method} [{'bytes' if raw else 'message'}] {_VARIES.sub('…', first_line)}"


def explore(
    target: FuzzTarget,
    method: str,
    raw: bool,
    examples: int,
    round_seed: int,
    deadline: float,
    found: dict,
):
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @seed(round_seed)
    @given(data=st.data())
    def run(data):
        caller = data.draw(st.sampled_from(FUZZ_CALLERS))
        request = data.draw(target.requests(method, raw))
        if time.monotonic() > deadline:  # after the draws: hypothesis wants them alike
            return
        problem = target.check(method, caller, request, raw=raw)
        if problem is not None:
            found[failure_class(method, raw, problem)].append(
                f"as {caller}: {problem[:400]}\n      request: {describe(request, 300)}"
            )

    run()


def database(postgres: bool, root: Path):
    if not postgres:
        return None, f"sqlite:///{root}/fuzz.db"
    from tests.support.postgres import PostgresServer

    server = PostgresServer().start()
    return server, server.create_database("stratus_fuzz")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=50, help="per method and kind, per round")
    parser.add_argument("--minutes", type=float, default=10.0, help="stop after this long")
    parser.add_argument("--seed", type=int, default=int(time.time()), help="of the first round")
    parser.add_argument("--postgres", action="store_true", help="a real PostgreSQL, not SQLite")
    parser.add_argument("--only", default="", help="methods whose name contains this text")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="stratus-fuzz-"))
    server, url = database(args.postgres, root)
    target = FuzzTarget(root, url)
    deadline = time.monotonic() + args.minutes * 60
    found: dict[str, list[str]] = defaultdict(list)
    methods = [m for m in sorted(rpc_calls.METHODS) if args.only in m]
    rounds, started = 0, time.monotonic()
    try:
        while time.monotonic() < deadline:
            for method in methods:
                for raw in (False, True):
                    explore(target, method, raw, args.examples, args.seed + rounds, deadline, found)
            rounds += 1
    finally:
        target.close()
        if server is not None:
            server.stop()
    print(
        f"{rounds} round(s) from seed {args.seed}, {len(methods)} methods, "
        f"{time.monotonic() - started:.0f} s; controller log: {target.process.log_path}"
    )
    for name, examples in sorted(found.items()):
        print(f"\n{len(examples):5d} x {name}\n      {examples[0]}")
    print(f"\n{len(found)} class(es) of failure")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
