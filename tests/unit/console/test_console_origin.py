"""Nova's checks on a console websocket request (controller/console/origin.py)."""

import pytest

from controller.console.origin import Refused, check_origin, check_path


def test_a_path_starting_with_two_slashes_is_refused():
    with pytest.raises(Refused) as caught:
        check_path("//evil.example/vnc.html")
    assert caught.value.status == 400
    check_path("/vnc.html?token=x")


@pytest.mark.parametrize(
    "origin_header, host, scheme, allowed",
    [
        (None, "proxy:6080", "http", []),  # not a browser: nothing to check
        ("http://proxy:6080", "proxy:6080", "http", []),
        ("http://proxy", "proxy:6080", "http", []),  # the host name is compared, not the port
        ("https://proxy:6080", "proxy:6080", "https", []),
        ("http://dashboard.example", "proxy:6080", "http", ["dashboard.example"]),
        ("http://[::1]:6080", "[::1]:6080", "http", []),
    ],
)
def test_origins_that_pass(origin_header, host, scheme, allowed):
    check_origin(origin_header, host, scheme, allowed)


@pytest.mark.parametrize(
    "origin_header, host, scheme",
    [
        ("http://evil.example", "proxy:6080", "http"),
        ("https://proxy:6080", "proxy:6080", "http"),  # scheme differs from the proxy's
        ("http://proxy:6080", "proxy:6080", "https"),
        ("null", "proxy:6080", "http"),  # a sandboxed page or a file
        ("http://proxy", None, "http"),
    ],
)
def test_origins_that_are_refused(origin_header, host, scheme):
    with pytest.raises(Refused) as caught:
        check_origin(origin_header, host, scheme, [])
    assert caught.value.status == 403
