import pytest

from controller.compute.api.quota_rules import DEFAULT_LIMITS, QuotaValues, check, check_limit_value
from stratus_common.errors import InvalidArgument, ResourceExhausted


def test_within_and_at_limit_pass():
    limits = QuotaValues(instances=2, cores=4, ram_mb=1024)
    check(limits, QuotaValues(instances=1, cores=2, ram_mb=512), instances=1, cores=2, ram_mb=512)


def test_exceeding_names_the_quota():
    limits = QuotaValues(instances=10, cores=4, ram_mb=1024)
    with pytest.raises(ResourceExhausted) as info:
        check(limits, QuotaValues(instances=1, cores=3), instances=1, cores=2, ram_mb=1)
    assert info.value.reason == "QUOTA_EXCEEDED"
    assert info.value.metadata == {"quota": "cores", "limit": "4", "used": "3", "requested": "2"}


def test_unlimited_and_releases():
    limits = QuotaValues(instances=-1, cores=0)
    check(limits, QuotaValues(instances=10**6), instances=5, cores=-2)


def test_limit_values():
    assert check_limit_value("cores", -1) == -1
    with pytest.raises(InvalidArgument):
        check_limit_value("cores", -2)
    assert DEFAULT_LIMITS.instances == 10 and "server_groups" in QuotaValues.names()
