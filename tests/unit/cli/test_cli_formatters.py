import datetime
import io
import json

import pytest
import yaml

from cli.errors import UsageError
from cli.formatters import ListResult, ShowResult, render_list, render_show

WHEN = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.UTC)
IMAGE = ShowResult(
    {
        "id": "b1c2",
        "name": "cirros",
        "size": 12716032,
        "protected": False,
        "tags": ["a", "b"],
        "properties": {"os": "linux"},
        "created_at": WHEN,
        "owner": None,
    }
)
IMAGES = ListResult(["ID", "Name", "Status"], [("2", "zeta", "active"), ("1", "Alpha", None)])


def out(render, *args, **kwargs) -> str:
    stream = io.StringIO()
    render(*args, stream, **kwargs)
    return stream.getvalue()


def test_show_table_has_a_field_per_line():
    text = out(render_show, ShowResult({"id": "b1c2", "name": "cirros"}))
    assert text == (
        "+-------+--------+\n"
        "| Field | Value  |\n"
        "+-------+--------+\n"
        "| id    | b1c2   |\n"
        "| name  | cirros |\n"
        "+-------+--------+\n"
    )


def test_show_table_renders_lists_dicts_times_and_none():
    text = out(render_show, IMAGE)
    assert "| tags       | a, b                 |" in text
    assert "| properties | os='linux'           |" in text
    assert "| created_at | 2024-05-01T12:00:00Z |" in text
    assert "| owner      |                      |" in text


def test_multi_line_values_stay_inside_their_cell():
    text = out(render_show, ShowResult({"log": "line one\nline two", "x": "y"}))
    assert "| log   | line one |\n|       | line two |\n" in text


def test_show_json_and_yaml_keep_types():
    data = json.loads(out(render_show, IMAGE, fmt="json"))
    assert data["size"] == 12716032 and data["protected"] is False and data["owner"] is None
    assert data["tags"] == ["a", "b"] and data["created_at"] == "2024-05-01T12:00:00Z"
    assert yaml.safe_load(out(render_show, IMAGE, fmt="yaml")) == data


def test_show_value_and_columns_in_the_order_asked():
    assert out(render_show, IMAGE, fmt="value", columns=["name", "id"]) == "cirros\nb1c2\n"


def test_show_shell_is_safe_to_eval():
    text = out(render_show, ShowResult({"name": "it's", "disk-format": "qcow2"}), fmt="shell")
    assert text == "name='it'\"'\"'s'\ndisk_format=qcow2\n"


def test_list_table():
    assert out(render_list, IMAGES) == (
        "+----+-------+--------+\n"
        "| ID | Name  | Status |\n"
        "+----+-------+--------+\n"
        "| 2  | zeta  | active |\n"
        "| 1  | Alpha |        |\n"
        "+----+-------+--------+\n"
    )


def test_an_empty_list_still_shows_its_columns():
    assert out(render_list, ListResult(["ID", "Name"], [])) == (
        "+----+------+\n| ID | Name |\n+----+------+\n"
    )


def test_list_json_yaml_value_csv():
    assert json.loads(out(render_list, IMAGES, fmt="json")) == [
        {"ID": "2", "Name": "zeta", "Status": "active"},
        {"ID": "1", "Name": "Alpha", "Status": None},
    ]
    assert yaml.safe_load(out(render_list, IMAGES, fmt="yaml"))[0] == {
        "ID": "2",
        "Name": "zeta",
        "Status": "active",
    }
    assert out(render_list, IMAGES, fmt="value", columns=["ID"]) == "2\n1\n"
    assert (
        out(render_list, ListResult(["Name", "Size"], [("a,b", 3)]), fmt="csv")
        == '"Name","Size"\n"a,b",3\n'
    )


def test_columns_match_case_insensitively_and_unknown_ones_are_a_usage_error():
    assert (
        out(render_list, IMAGES, fmt="value", columns=["name", "status"]) == "zeta active\nAlpha \n"
    )
    with pytest.raises(UsageError, match="unknown column 'Size'; columns: ID, Name, Status"):
        out(render_list, IMAGES, columns=["Size"])


def test_sort_columns():
    assert (
        out(render_list, IMAGES, fmt="value", columns=["Name"], sort_columns=["Name"])
        == "Alpha\nzeta\n"
    )
    assert (
        out(render_list, IMAGES, fmt="value", columns=["ID"], sort_columns=["ID"], descending=True)
        == "2\n1\n"
    )


def test_wide_characters_are_aligned():
    text = out(render_list, ListResult(["Name"], [("雲",), ("ab",)]))
    lines = text.splitlines()
    assert len({len(line.replace("雲", "xx")) for line in lines}) == 1
