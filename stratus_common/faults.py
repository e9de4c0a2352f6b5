"""Named steps where a test may have this process die, as a power cut or `kill -9` would.

`STRATUS_FAULT_AT=<step>` in the environment, read once when this module is imported, makes
the process send itself SIGKILL the first time it reaches `point("<step>")`; a line naming
the step goes to stderr first, so a test can tell the injected death from a crash. Unset (as
in every deployment), `point` only compares a string with None. The steps are listed in
docs/dev/fault-injection.md; tests/fault/ kills the controller and the node agent at each.
"""

from __future__ import annotations

import os
import signal
import sys

ENVIRONMENT = "STRATUS_FAULT_AT"
_ARMED = os.environ.get(ENVIRONMENT) or None


def point(step: str) -> None:
    """Die here if the process was started to die at `step`."""
    if step != _ARMED:
        return
    sys.stderr.write(f"{ENVIRONMENT}: killed at {step}\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)
