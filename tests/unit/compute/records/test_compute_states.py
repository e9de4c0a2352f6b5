import pytest

from controller.compute.records import states as s
from stratus_common.errors import FailedPrecondition


@pytest.mark.parametrize(
    "vm,task,expected",
    [
        (s.BUILDING, s.SCHEDULING, "BUILD"),
        (s.ACTIVE, None, "ACTIVE"),
        (s.ACTIVE, s.REBOOTING, "REBOOT"),
        (s.ACTIVE, s.REBOOTING_HARD, "HARD_REBOOT"),
        (s.STOPPED, s.REBOOTING_HARD, "HARD_REBOOT"),
        (s.STOPPED, None, "SHUTOFF"),
        (s.PAUSED, None, "PAUSED"),
        (s.SUSPENDED, None, "SUSPENDED"),
        (s.ERROR, None, "ERROR"),
        (s.DELETED, s.DELETING, "DELETED"),
        (s.ACTIVE, s.POWERING_OFF, "ACTIVE"),
    ],
)
def test_status_map(vm, task, expected):
    assert s.status(vm, task) == expected


ALL_VM = [s.BUILDING, s.ACTIVE, s.STOPPED, s.PAUSED, s.SUSPENDED, s.ERROR]
ALLOWED = {
    "stop": {s.ACTIVE, s.ERROR},
    "start": {s.STOPPED},
    "reboot": {s.ACTIVE},
    "reboot_hard": {s.ACTIVE, s.STOPPED, s.PAUSED, s.SUSPENDED, s.ERROR},
    "pause": {s.ACTIVE},
    "unpause": {s.PAUSED},
    "suspend": {s.ACTIVE},
    "resume": {s.SUSPENDED},
}


@pytest.mark.parametrize("name", sorted(ALLOWED))
@pytest.mark.parametrize("vm", ALL_VM)
def test_actions_allowed_only_from_nova_states(name, vm):
    action = s.ACTIONS[name]
    if vm in ALLOWED[name]:
        s.check_action(action, vm, None, "host1")
    else:
        with pytest.raises(FailedPrecondition) as info:
            s.check_action(action, vm, None, "host1")
        assert info.value.reason == "INVALID_SERVER_STATE"
        assert info.value.metadata["status"] == s.status(vm, None)


def test_busy_server_refuses_actions_but_hard_reboot_interrupts_soft():
    with pytest.raises(FailedPrecondition):
        s.check_action(s.ACTIONS["stop"], s.ACTIVE, s.PAUSING, "h")
    with pytest.raises(FailedPrecondition):
        s.check_action(s.ACTIONS["reboot"], s.ACTIVE, s.REBOOTING, "h")
    s.check_action(s.ACTIONS["reboot_hard"], s.ACTIVE, s.REBOOTING, "h")


def test_action_needs_a_host():
    with pytest.raises(FailedPrecondition, match="never placed"):
        s.check_action(s.ACTIONS["stop"], s.ERROR, None, None)
