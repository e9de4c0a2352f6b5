import json
import logging

import pytest

from controller.auth.policy import (
    Enforcer,
    PolicyFileError,
    PolicySyntaxError,
    RuleDefault,
    compile_check,
)
from stratus_common.errors import PermissionDenied

ADMIN = {"user_id": "u-admin", "project_id": "p-admin", "roles": ["Admin"], "is_admin": True}
MEMBER = {"user_id": "u-1", "project_id": "p-1", "roles": ["member", "reader"], "is_admin": False}
READER = {"user_id": "u-2", "project_id": "p-1", "roles": ["reader"]}
NOBODY = {"user_id": "u-3", "project_id": None, "roles": []}


def check(check_str, target=None, creds=None, rules=None):
    return compile_check(check_str)(target or {}, creds or {}, rules or {})


# --- syntax forms --------------------------------------------------------------------------


@pytest.mark.parametrize("check_str", ["", "   ", "@"])
def test_always(check_str):
    assert check(check_str, creds=NOBODY)


def test_never():
    assert not check("!", creds=ADMIN)


@pytest.mark.parametrize(
    "creds,expected", [(ADMIN, True), (MEMBER, False), (NOBODY, False), ({}, False)]
)
def test_role_is_case_insensitive(creds, expected):
    assert check("role:admin", creds=creds) is expected
    assert check("role:ADMIN", creds=creds) is expected


def test_role_from_target():
    assert check("role:%(role)s", {"role": "Reader"}, READER)
    assert not check("role:%(role)s", {"role": "admin"}, READER)
    assert not check("role:%(role)s", {}, READER)


def test_substitution_from_target():
    assert check("project_id:%(project_id)s", {"project_id": "p-1"}, MEMBER)
    assert not check("project_id:%(project_id)s", {"project_id": "p-2"}, MEMBER)


def test_substitution_with_dotted_keys_flat_and_nested():
    assert check("user_id:%(target.user.id)s", {"target.user.id": "u-1"}, MEMBER)
    assert check("user_id:%(target.user.id)s", {"target": {"user": {"id": "u-1"}}}, MEMBER)
    assert not check("user_id:%(target.user.id)s", {"target": {"user": {"id": "u-9"}}}, MEMBER)


@pytest.mark.parametrize("target", [{}, {"project_id": None}, {"target": "flat"}, {"other": "p-1"}])
def test_missing_substitution_never_allows(target):
    # Even when the creds hold None too: a missing key never matches.
    assert not check("project_id:%(project_id)s", target, MEMBER)
    assert not check("project_id:%(project_id)s", target, NOBODY)
    assert not check("project_id:%(target.x)s", target, MEMBER)


def test_generic_literal():
    assert check("is_admin:True", creds=ADMIN)
    assert check("is_admin:true", creds=ADMIN)
    assert not check("is_admin:True", creds=MEMBER)
    assert check("is_admin:False", creds=MEMBER)
    assert not check("is_admin:True", creds=READER)  # absent never matches
    assert check("user_id:u-2", creds=READER)


def test_generic_against_list_and_nested_creds():
    assert check("roles:reader", creds=READER)
    assert check("token.scope:project", creds={"token": {"scope": "project"}})
    assert not check("token.scope:project", creds={"token": {"scope": "domain"}})


def test_literal_on_the_left_compares_with_target():
    assert check("'member':%(role.name)s", {"role.name": "member"})
    assert not check("'member':%(role.name)s", {"role.name": "admin"})
    assert check("True:%(enabled)s", {"enabled": True})


def test_substitution_inside_a_longer_match_and_percent_escape():
    assert check("name:prj-%(id)s", {"id": "7"}, {"name": "prj-7"})
    assert check("name:100%%", creds={"name": "100%"})


def test_rule_reference():
    rules = {"admin_required": compile_check("role:admin")}
    assert check("rule:admin_required", creds=ADMIN, rules=rules)
    assert not check("rule:admin_required", creds=MEMBER, rules=rules)
    assert not check("rule:missing", creds=ADMIN, rules=rules)


# --- operators and precedence --------------------------------------------------------------


def test_and_or_not():
    assert check("role:member and role:reader", creds=MEMBER)
    assert not check("role:member and role:reader", creds=READER)
    assert check("role:admin or role:reader", creds=READER)
    assert not check("role:admin or role:member", creds=READER)
    assert check("not role:admin", creds=READER)
    assert not check("not role:admin", creds=ADMIN)
    assert check("not not role:admin", creds=ADMIN)


def test_keywords_are_case_insensitive():
    assert check("role:admin OR role:reader", creds=READER)
    assert check("NOT role:admin And role:reader", creds=READER)


def test_and_binds_tighter_than_or():
    # a or b and c == a or (b and c): true for ADMIN though it lacks member and reader.
    assert check("role:admin or role:member and role:reader", creds=ADMIN)
    assert not check("(role:admin or role:member) and role:reader", creds=ADMIN)


def test_not_binds_tighter_than_and():
    # not a and b == (not a) and b
    assert check("not role:admin and role:reader", creds=READER)
    assert not check("not (role:admin and role:reader)", creds={"roles": ["admin", "reader"]})
    assert check("not role:admin and role:reader", creds={"roles": ["reader"]})
    assert not check("not role:reader and role:reader", creds={"roles": ["reader"]})


def test_parentheses_nest_and_hug_tokens():
    s = "((role:admin)) or (project_id:%(project_id)s and (not role:reader))"
    assert check(s, {"project_id": "p-1"}, {"project_id": "p-1", "roles": ["member"]})
    assert not check(s, {"project_id": "p-1"}, READER)
    assert check("not(role:admin)", creds=READER)


@pytest.mark.parametrize(
    "bad",
    [
        "role:admin and",
        "or role:admin",
        "(role:admin",
        "role:admin)",
        "role:admin role:reader",
        "admin",
        "role:",
        ":admin",
        "rule:",
        "not",
        "()",
        "project_id:%(project_id",
        "x:%d",
        "x:%()s",
        "rule:%(x)s",
        "'unclosed:x",
    ],
)
def test_syntax_errors(bad):
    with pytest.raises(PolicySyntaxError):
        compile_check(bad)


# --- the enforcer --------------------------------------------------------------------------

DEFAULTS = [
    RuleDefault("admin_required", "role:admin or is_admin:True"),
    RuleDefault("owner", "user_id:%(user_id)s"),
    RuleDefault("identity:get_user", "rule:admin_required or rule:owner"),
    RuleDefault("identity:create_user", "rule:admin_required"),
    RuleDefault("identity:list_projects", "role:reader or rule:admin_required"),
]


@pytest.fixture
def enforcer():
    e = Enforcer()
    e.register(DEFAULTS)
    e.load_overrides()
    return e


def test_enforce_defaults(enforcer):
    assert enforcer.enforce("identity:get_user", {"user_id": "u-1"}, MEMBER)
    assert not enforcer.enforce("identity:get_user", {"user_id": "u-2"}, MEMBER)
    assert enforcer.enforce("identity:get_user", {"user_id": "u-2"}, ADMIN)
    assert enforcer.enforce("identity:list_projects", {}, READER)
    assert not enforcer.enforce("identity:list_projects", {}, NOBODY)


def test_authorize_raises_permission_denied(enforcer):
    enforcer.authorize("identity:create_user", {}, ADMIN)
    with pytest.raises(PermissionDenied) as info:
        enforcer.authorize("identity:create_user", {}, MEMBER)
    assert info.value.reason == "POLICY_DENIED"
    assert info.value.metadata == {"rule": "identity:create_user"}
    assert str(info.value) == "Policy does not allow identity:create_user"


def test_unknown_rule_is_a_key_error(enforcer):
    with pytest.raises(KeyError):
        enforcer.enforce("identity:nothing", {}, ADMIN)
    with pytest.raises(KeyError):
        enforcer.authorize("identity:nothing", {}, ADMIN)


def test_duplicate_registration_is_a_value_error(enforcer):
    with pytest.raises(ValueError, match="registered twice"):
        enforcer.register([RuleDefault("owner", "@")])
    with pytest.raises(ValueError, match="registered twice"):
        Enforcer().register([RuleDefault("a", "@"), RuleDefault("a", "!")])


def test_bad_default_syntax_is_a_value_error():
    with pytest.raises(ValueError, match="'x'"):
        Enforcer().register([RuleDefault("x", "role:admin and")])


def test_default_cycle_is_a_value_error():
    e = Enforcer()
    e.register([RuleDefault("a", "rule:b")])
    with pytest.raises(ValueError, match="cycle"):
        e.register([RuleDefault("b", "role:x or rule:a")])
    # The failed batch left nothing behind.
    e.register([RuleDefault("b", "role:x")])


def test_default_with_unknown_reference_fails_at_load():
    e = Enforcer()
    e.register([RuleDefault("a", "rule:nope")])
    assert not e.enforce("a", {}, ADMIN)
    with pytest.raises(ValueError, match="unknown rule 'nope'"):
        e.load_overrides()


def test_register_accepts_a_generator():
    e = Enforcer()
    e.register(RuleDefault(f"r{i}", "@") for i in range(3))
    assert e.enforce("r2", {}, {})


# --- policy files ---------------------------------------------------------------------------


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def loaded(path):
    e = Enforcer(path)
    e.register(DEFAULTS)
    e.load_overrides()
    return e


def test_yaml_override_replaces_one_rule(tmp_path):
    e = loaded(write(tmp_path, "policy.yaml", '"identity:create_user": "role:member"\n'))
    assert e.enforce("identity:create_user", {}, MEMBER)
    assert not e.enforce("identity:create_user", {}, ADMIN)
    # The others keep their defaults.
    assert e.enforce("identity:get_user", {"user_id": "x"}, ADMIN)


def test_json_override(tmp_path):
    e = loaded(write(tmp_path, "policy.json", json.dumps({"admin_required": "role:superuser"})))
    # Rules that refer to the overridden one follow it.
    assert not e.enforce("identity:create_user", {}, {"roles": ["admin"]})
    assert e.enforce("identity:create_user", {}, {"roles": ["superuser"]})


def test_empty_and_comment_only_files_change_nothing(tmp_path):
    for text in ("", "# nothing here\n"):
        e = loaded(write(tmp_path, "policy.yaml", text))
        assert not e.enforce("identity:create_user", {}, MEMBER)


def test_override_may_define_new_alias_rules(tmp_path, caplog):
    text = (
        '"project_member": "project_id:%(project_id)s"\n'
        '"identity:get_user": "rule:project_member"\n'
    )
    with caplog.at_level(logging.WARNING, logger="controller.auth.policy"):
        e = loaded(write(tmp_path, "policy.yaml", text))
    assert e.enforce("identity:get_user", {"project_id": "p-1"}, MEMBER)
    assert not e.enforce("identity:get_user", {"project_id": "p-2"}, ADMIN)
    assert "project_member" in caplog.text and "unknown rule" in caplog.text
    assert e.effective_rules()["identity:get_user"] == "rule:project_member"


def test_reload_replaces_previous_overrides(tmp_path):
    path = write(tmp_path, "policy.yaml", '"identity:create_user": "@"\n')
    e = loaded(path)
    assert e.enforce("identity:create_user", {}, NOBODY)
    path.write_text("{}\n")
    e.load_overrides()
    assert not e.enforce("identity:create_user", {}, NOBODY)


def test_registration_after_load_takes_the_existing_override(tmp_path):
    e = Enforcer(write(tmp_path, "policy.yaml", '"late:rule": "role:reader"\n'))
    e.load_overrides()
    e.register([RuleDefault("late:rule", "!")])
    assert e.enforce("late:rule", {}, READER)


def assert_file_error(path, line, rule, words):
    e = Enforcer(path)
    e.register(DEFAULTS)
    before = e.enforce("identity:create_user", {}, MEMBER)
    with pytest.raises(PolicyFileError) as info:
        e.load_overrides()
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: ")
    assert info.value.line == line
    assert info.value.rule == rule
    if rule is not None:
        assert repr(rule) in message
    assert words in message
    # A refused file changes nothing.
    assert e.enforce("identity:create_user", {}, MEMBER) is before


def test_bad_rule_syntax_names_file_line_and_rule(tmp_path):
    text = (
        '# overrides\n"identity:get_user": "role:admin"\n\n'
        '"identity:create_user": "role:admin and (role:member"\n'
    )
    assert_file_error(write(tmp_path, "p.yaml", text), 4, "identity:create_user", "missing ')'")


def test_bad_rule_syntax_in_json_names_the_line(tmp_path):
    text = '{\n  "identity:get_user": "@",\n  "identity:create_user": "role:admin or"\n}\n'
    assert_file_error(write(tmp_path, "p.json", text), 3, "identity:create_user", "ends where")


def test_malformed_yaml_names_the_line(tmp_path):
    text = '"identity:get_user": "@"\n"identity:create_user": "role:admin\n"x": "y"\n'
    path = write(tmp_path, "p.yaml", text)
    e = Enforcer(path)
    with pytest.raises(PolicyFileError, match=rf"^{path}:\d+: not valid YAML"):
        e.load_overrides()


def test_malformed_yaml_line_number(tmp_path):
    text = 'a: "@"\nb: "@"\n  c: [oops\n'
    with pytest.raises(PolicyFileError) as info:
        Enforcer(write(tmp_path, "p.yaml", text)).load_overrides()
    assert info.value.line == 3


def test_malformed_json_names_the_line(tmp_path):
    text = '{\n  "identity:get_user": "@",\n  "identity:create_user": "@"\n  "x": "y"\n}\n'
    assert_file_error(write(tmp_path, "p.json", text), 4, None, "not valid JSON")


@pytest.mark.parametrize(
    "text,line,rule",
    [
        ('"identity:get_user": "@"\n"identity:create_user": true\n', 2, "identity:create_user"),
        ('"identity:get_user": "@"\n"identity:create_user":\n', 2, "identity:create_user"),
        ('"identity:create_user": ["role:admin"]\n', 1, "identity:create_user"),
        ('- "role:admin"\n', 1, None),
    ],
)
def test_non_string_values_are_refused(tmp_path, text, line, rule):
    assert_file_error(write(tmp_path, "p.yaml", text), line, rule, "string")


def test_null_in_json_is_refused(tmp_path):
    text = '{"identity:get_user": "@",\n "identity:create_user": null}'
    assert_file_error(write(tmp_path, "p.json", text), 2, "identity:create_user", "string")


def test_duplicate_key_is_refused(tmp_path):
    text = '"identity:create_user": "!"\n"owner": "@"\n"identity:create_user": "@"\n'
    assert_file_error(write(tmp_path, "p.yaml", text), 3, "identity:create_user", "first on line 1")
    jtext = '{"identity:create_user": "!",\n"identity:create_user": "@"}'
    assert_file_error(
        write(tmp_path, "p.json", jtext), 2, "identity:create_user", "first on line 1"
    )


def test_cycle_through_overrides_is_refused(tmp_path):
    text = '"owner": "@"\n"admin_required": "rule:identity:create_user"\n'
    assert_file_error(write(tmp_path, "p.yaml", text), 2, "admin_required", "cycle")


def test_self_reference_is_a_cycle(tmp_path):
    assert_file_error(
        write(tmp_path, "p.yaml", '"owner": "rule:owner"\n'), 1, "owner", "owner -> owner"
    )


def test_reference_to_unknown_rule_in_file_is_refused(tmp_path):
    text = '\n"identity:create_user": "rule:admin_requried"\n'
    assert_file_error(write(tmp_path, "p.yaml", text), 2, "identity:create_user", "unknown rule")


def test_missing_file_is_refused(tmp_path):
    path = tmp_path / "absent.yaml"
    with pytest.raises(PolicyFileError, match="not found") as info:
        Enforcer(path).load_overrides()
    assert str(path) in str(info.value)
