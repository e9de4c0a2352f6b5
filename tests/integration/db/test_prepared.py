"""Prepared queries answer exactly what the same peewee query answers, on either database."""

import peewee
import pytest

from controller.db.prepared import Param, Prepared
from controller.identity.models import Project


def _admin_project():
    return Project.get(Project.name == "admin")


def test_a_prepared_select_returns_the_models_the_query_returns(db):
    by_id = Prepared(lambda: Project.select().where(Project.id == Param("id")))
    expected = db.call(_admin_project)
    got = db.call(by_id.first, id=expected.id)
    assert isinstance(got, Project)
    # Every column comes back converted as peewee converts it (booleans, naive datetimes).
    assert got.__data__ == expected.__data__
    assert got.enabled is True and got.created_at == expected.created_at


def test_unknown_values_find_nothing(db):
    by_id = Prepared(lambda: Project.select().where(Project.id == Param("id")))
    assert db.call(by_id.first, id="00000000-0000-0000-0000-000000000000") is None
    assert db.call(by_id.rows, id="00000000-0000-0000-0000-000000000000") == []


def test_parameters_bind_by_name_among_the_query_s_own_values(db):
    # The query's own constants (enabled, the LIKE pattern) and the placeholders interleave in
    # the rendered SQL; each call binds only its names, in the right places.
    query = Prepared(
        lambda: (
            Project.select(Project.name)
            .where(
                (Project.enabled == True)  # noqa: E712
                & (Project.name == Param("name"))
                & (Project.name.startswith("adm"))
                & (Project.id != Param("not_id"))
            )
            .tuples()
        )
    )
    admin = db.call(_admin_project)
    assert db.call(query.rows, name="admin", not_id="x") == [("admin",)]
    assert db.call(query.rows, name="admin", not_id=admin.id) == []
    assert db.call(query.rows, name="nobody", not_id="x") == []


def test_the_query_is_built_and_rendered_once(db):
    builds = []

    def build():
        builds.append(1)
        return Project.select().where(Project.id == Param("id"))

    by_id = Prepared(build)
    admin = db.call(_admin_project)
    for _ in range(3):
        assert db.call(by_id.first, id=admin.id).name == "admin"
    assert builds == [1]


def test_a_missing_parameter_is_refused_before_anything_runs(db):
    by_id = Prepared(lambda: Project.select().where(Project.id == Param("id")))
    with pytest.raises(KeyError, match="id"):
        db.call(by_id.first, ident="x")


def test_sql_errors_are_peewee_s_own(db):
    broken = Prepared(lambda: Project.select().where(peewee.SQL("no_such_column") == Param("v")))
    with pytest.raises(peewee.DatabaseError):
        db.call(broken.rows, v=1)
