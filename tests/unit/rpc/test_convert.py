"""rpc.convert.timestamp: the same Timestamp as protobuf's own FromDatetime."""

import datetime

import pytest
from google.protobuf import timestamp_pb2

from controller.rpc.convert import timestamp

UTC = datetime.UTC
MINUS_7 = datetime.timezone(datetime.timedelta(hours=-7))


def _naive(*fields: int) -> datetime.datetime:
    """A naive datetime, as the database columns hold them (UTC)."""
    return datetime.datetime(*fields, tzinfo=UTC).replace(tzinfo=None)


def _reference(moment: datetime.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    return stamp


@pytest.mark.parametrize(
    "moment",
    [
        _naive(2026, 12, 3, 19, 4, 5, 123456),
        datetime.datetime(2026, 12, 3, 19, 4, 5, 123456, tzinfo=UTC),
        datetime.datetime(2026, 12, 3, 1, 0, tzinfo=MINUS_7),
        _naive(1969, 12, 31, 23, 59, 59, 500000),  # before the epoch: nanos stay >= 0
        _naive(1, 1, 1),
        datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_timestamp_matches_protobufs_conversion(moment):
    assert timestamp(moment) == _reference(moment)


def test_none_stays_unset():
    assert timestamp(None) is None
