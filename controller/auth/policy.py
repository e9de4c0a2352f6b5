"""The policy engine: named rules, defaults in code, an optional file overriding them.

Rule syntax follows oslo.policy:

    role:admin                      the caller holds the role (case-insensitive)
    project_id:%(project_id)s       creds["project_id"] equals target["project_id"]
    user_id:%(target.user.id)s      dotted keys: a flat key first, then nested mappings
    is_admin:True                   creds["is_admin"] equals the literal
    'member':%(role.name)s          a quoted literal on the left compares with the target
    rule:admin_required             the named rule
    @  or ""                        always
    !                               never
    not, and, or, ( )               precedence: not > and > or

Each check string is compiled once into a tree of small check objects, so `enforce` never
parses. A substitution whose target key is missing (or None) is False: never allow.
"""

from __future__ import annotations

import ast
import json
import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import yaml

from stratus_common.errors import PermissionDenied

LOG = logging.getLogger(__name__)

__all__ = ["Enforcer", "PolicyFileError", "PolicySyntaxError", "RuleDefault", "compile_check"]


@dataclass(frozen=True)
class RuleDefault:
    name: str
    check_str: str
    description: str = ""


class PolicySyntaxError(ValueError):
    """A check string that does not parse."""


class PolicyFileError(Exception):
    """A policy file that cannot be used. The message names the file, the line and the rule."""

    def __init__(self, path: str, line: int | None, rule: str | None, detail: str):
        where = f"{path}:{line}" if line is not None else path
        what = f"rule {rule!r}: " if rule is not None else ""
        super().__init__(f"{where}: {what}{detail}")
        self.path = path
        self.line = line
        self.rule = rule
        self.detail = detail


# --- check objects -----------------------------------------------------------------------
# Each is called as check(target, creds, rules) -> bool; `rules` is the compiled rule table
# in force for this call, so a reload swaps rules atomically between calls.

_MISSING = object()


def _lookup(mapping: Mapping, key: str):
    """A flat key first (oslo style "target.user.id"), then a walk through nested mappings."""
    try:
        return mapping[key]
    except (KeyError, TypeError):
        pass
    if "." not in key:
        return _MISSING
    value = mapping
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _text(value) -> str:
    return str(value)


class _Template:
    """A match string with %(key)s substitutions, split once at compile time."""

    __slots__ = ("constant", "parts")

    def __init__(self, parts: list[tuple[bool, str]]):
        self.parts = tuple(parts)  # (is_key, text)
        self.constant = None if any(k for k, _ in parts) else "".join(t for _, t in parts)

    def render(self, target: Mapping) -> str | None:
        if self.constant is not None:
            return self.constant
        out = []
        for is_key, text in self.parts:
            if is_key:
                value = _lookup(target, text)
                if value is _MISSING or value is None:
                    return None
                out.append(_text(value))
            else:
                out.append(text)
        return "".join(out)


_SUBST = re.compile(r"%\(([^()]*)\)s|%%|%")


def _template(match: str) -> _Template:
    parts: list[tuple[bool, str]] = []
    pos = 0
    for m in _SUBST.finditer(match):
        if m.start() > pos:
            parts.append((False, match[pos : m.start()]))
        if m.group(0) == "%%":
            parts.append((False, "%"))
        elif m.group(0) == "%":
            raise PolicySyntaxError(f"bad substitution in {match!r}: use %(key)s, or %% for %")
        else:
            key = m.group(1).strip()
            if not key:
                raise PolicySyntaxError(f"empty substitution key in {match!r}")
            parts.append((True, key))
        pos = m.end()
    if pos < len(match):
        parts.append((False, match[pos:]))
    return _Template(parts)


class _Always:
    __slots__ = ()

    def __call__(self, target, creds, rules):
        return True

    def __str__(self):
        return "@"


class _Never:
    __slots__ = ()

    def __call__(self, target, creds, rules):
        return False

    def __str__(self):
        return "!"


ALWAYS = _Always()
NEVER = _Never()


class _RoleCheck:
    __slots__ = ("match", "source")

    def __init__(self, match: _Template, source: str):
        self.match = match
        self.source = source

    def __call__(self, target, creds, rules):
        wanted = self.match.render(target)
        if wanted is None:
            return False
        wanted = wanted.lower()
        roles = creds.get("roles") or ()
        return any(isinstance(r, str) and r.lower() == wanted for r in roles)

    def __str__(self):
        return self.source


class _GenericCheck:
    """creds[field] (or a literal on the left) compared as text with the match."""

    __slots__ = ("field", "literal", "match", "source")

    def __init__(self, field: str | None, literal, match: _Template, source: str):
        self.field = field
        self.literal = literal
        self.match = match
        self.source = source

    def __call__(self, target, creds, rules):
        wanted = self.match.render(target)
        if wanted is None:
            return False
        if self.field is None:
            return _text(self.literal) == wanted
        value = _lookup(creds, self.field)
        if value is _MISSING or value is None:
            return False
        if isinstance(value, (list, tuple, set, frozenset)):
            return any(_equal(v, wanted) for v in value)
        return _equal(value, wanted)

    def __str__(self):
        return self.source


def _equal(value, wanted: str) -> bool:
    if isinstance(value, bool):
        return wanted.lower() == ("true" if value else "false")
    return _text(value) == wanted


class _RuleCheck:
    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __call__(self, target, creds, rules):
        check = rules.get(self.name)
        # A reference load_overrides() did not resolve never allows.
        return check is not None and check(target, creds, rules)

    def __str__(self):
        return f"rule:{self.name}"


class _Not:
    __slots__ = ("check",)

    def __init__(self, check):
        self.check = check

    def __call__(self, target, creds, rules):
        return not self.check(target, creds, rules)

    def __str__(self):
        return f"not {self.check}"


class _And:
    __slots__ = ("checks",)

    def __init__(self, checks):
        self.checks = tuple(checks)

    def __call__(self, target, creds, rules):
        return all(check(target, creds, rules) for check in self.checks)

    def __str__(self):
        return "(" + " and ".join(map(str, self.checks)) + ")"


class _Or:
    __slots__ = ("checks",)

    def __init__(self, checks):
        self.checks = tuple(checks)

    def __call__(self, target, creds, rules):
        return any(check(target, creds, rules) for check in self.checks)

    def __str__(self):
        return "(" + " or ".join(map(str, self.checks)) + ")"


# --- the parser --------------------------------------------------------------------------

# A check token may hold %(key)s substitutions, whose parentheses are not grouping.
_TOKEN = re.compile(r"\s*(?:(?P<paren>[()])|(?P<word>(?:%\([^()]*\)|[^\s()])+))")
_KEYWORDS = {"and", "or", "not"}


def _tokenize(check_str: str) -> list[str]:
    tokens = []
    pos = 0
    end = len(check_str.rstrip())
    while pos < end:
        m = _TOKEN.match(check_str, pos)
        if m is None:  # only a stray "%(" without ")" gets here
            raise PolicySyntaxError(f"unexpected text at column {pos + 1}: {check_str[pos:]!r}")
        tokens.append(m.group("paren") or m.group("word"))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, check_str: str):
        self.source = check_str
        self.tokens = _tokenize(check_str)
        self.pos = 0

    def parse(self):
        if not self.tokens:
            return ALWAYS
        check = self._or()
        if self.pos != len(self.tokens):
            raise PolicySyntaxError(f"unexpected {self.tokens[self.pos]!r} in {self.source!r}")
        return check

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _keyword(self, word: str) -> bool:
        token = self._peek()
        if token is not None and token.lower() == word:
            self.pos += 1
            return True
        return False

    def _or(self):
        checks = [self._and()]
        while self._keyword("or"):
            checks.append(self._and())
        return checks[0] if len(checks) == 1 else _Or(checks)

    def _and(self):
        checks = [self._not()]
        while self._keyword("and"):
            checks.append(self._not())
        return checks[0] if len(checks) == 1 else _And(checks)

    def _not(self):
        if self._keyword("not"):
            return _Not(self._not())
        return self._atom()

    def _atom(self):
        token = self._peek()
        if token is None:
            raise PolicySyntaxError(f"check string ends where a check is expected: {self.source!r}")
        self.pos += 1
        if token == "(":
            check = self._or()
            if self._peek() != ")":
                raise PolicySyntaxError(f"missing ')' in {self.source!r}")
            self.pos += 1
            return check
        if token == ")" or token.lower() in _KEYWORDS:
            raise PolicySyntaxError(
                f"unexpected {token!r} where a check is expected in {self.source!r}"
            )
        return _leaf(token)


def _leaf(token: str):
    if token == "@":
        return ALWAYS
    if token == "!":
        return NEVER
    kind, sep, match = token.partition(":")
    if not sep or not kind or not match:
        raise PolicySyntaxError(f"{token!r} is not a check: expected kind:match, '@' or '!'")
    if kind == "rule":
        if "%" in match:
            raise PolicySyntaxError(f"{token!r}: a rule name takes no substitution")
        return _RuleCheck(match)
    template = _template(match)
    if kind == "role":
        return _RoleCheck(template, token)
    literal = _literal(kind)
    if literal is not _MISSING:
        return _GenericCheck(None, literal, template, token)
    return _GenericCheck(kind, None, template, token)


def _literal(kind: str):
    """'text', True, 42 on the left of a check are literals, as in oslo.policy."""
    if kind[0] not in "'\"-0123456789" and kind not in ("True", "False"):
        return _MISSING
    try:
        return ast.literal_eval(kind)
    except (ValueError, SyntaxError):
        raise PolicySyntaxError(f"bad literal {kind!r}") from None


def compile_check(check_str: str):
    """Compile a check string into a callable check(target, creds, rules) -> bool."""
    if not isinstance(check_str, str):
        raise PolicySyntaxError(f"a check string must be a string, not {type(check_str).__name__}")
    return _Parser(check_str).parse()


def _references(check) -> Iterable[str]:
    if isinstance(check, _RuleCheck):
        yield check.name
    elif isinstance(check, _Not):
        yield from _references(check.check)
    elif isinstance(check, (_And, _Or)):
        for child in check.checks:
            yield from _references(child)


def _find_cycle(graph: Mapping[str, list[str]]) -> list[str] | None:
    """A cycle in rule references as a path [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for root in graph:
        if state.get(root):
            continue
        path = [root]
        stack = [iter(graph[root])]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
                continue
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(graph[nxt]))
    return None


# --- reading a policy file ---------------------------------------------------------------


@dataclass(frozen=True)
class _Override:
    check_str: str
    line: int | None


def _read_policy_file(path: str) -> dict[str, _Override]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise PolicyFileError(path, None, None, "policy file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyFileError(path, None, None, f"cannot read policy file: {exc}") from None
    if path.endswith(".json"):
        return _read_json(path, text)
    return _read_yaml(path, text)


def _read_yaml(path: str, text: str) -> dict[str, _Override]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise PolicyFileError(path, line, None, f"not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise PolicyFileError(path, None, None, f"not valid YAML: {exc}") from None
    if root is None:
        return {}
    if not isinstance(root, yaml.MappingNode):
        raise PolicyFileError(
            path, root.start_mark.line + 1, None, "a policy file maps rule names to check strings"
        )
    out: dict[str, _Override] = {}
    str_tag = "tag:yaml.org,2002:str"
    for key, value in root.value:
        line = key.start_mark.line + 1
        if not isinstance(key, yaml.ScalarNode) or key.tag != str_tag:
            raise PolicyFileError(path, line, None, "a rule name must be a string")
        name = key.value
        if name in out:
            raise PolicyFileError(
                path, line, name, f"defined twice (first on line {out[name].line})"
            )
        if not isinstance(value, yaml.ScalarNode) or value.tag != str_tag:
            raise PolicyFileError(
                path,
                value.start_mark.line + 1,
                name,
                'the check string must be a quoted string ("" allows everyone)',
            )
        out[name] = _Override(value.value, line)
    return out


def _read_json(path: str, text: str) -> dict[str, _Override]:
    seen_twice: list[str] = []

    def pairs(items):
        result = {}
        for k, v in items:
            if k in result:
                seen_twice.append(k)
            result[k] = v
        return result

    try:
        data = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        raise PolicyFileError(path, exc.lineno, None, f"not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise PolicyFileError(path, 1, None, "a policy file maps rule names to check strings")
    lines = _json_key_lines(text)
    if seen_twice:
        name = seen_twice[0]
        found = lines.get(name, [None])
        raise PolicyFileError(path, found[-1], name, f"defined twice (first on line {found[0]})")
    out = {}
    for name, value in data.items():
        line = lines.get(name, [None])[0]
        if not isinstance(value, str):
            raise PolicyFileError(
                path, line, name, 'the check string must be a string ("" allows everyone)'
            )
        out[name] = _Override(value, line)
    return out


_JSON_KEY = re.compile(r'"((?:[^"\\]|\\.)*)"\s*:')


def _json_key_lines(text: str) -> dict[str, list[int]]:
    """Line numbers of the top-level keys of a JSON object (json itself does not keep them)."""
    lines: dict[str, list[int]] = {}
    for m in _JSON_KEY.finditer(text):
        try:
            name = json.loads(f'"{m.group(1)}"')
        except json.JSONDecodeError:
            continue
        lines.setdefault(name, []).append(text.count("\n", 0, m.start()) + 1)
    return lines


# --- the enforcer ------------------------------------------------------------------------


class Enforcer:
    """Rule defaults registered in code, optionally overridden by a YAML or JSON file."""

    def __init__(self, overrides_path: str | os.PathLike | None = None):
        self.overrides_path = os.fspath(overrides_path) if overrides_path is not None else None
        self._defaults: dict[str, RuleDefault] = {}
        self._compiled_defaults: dict[str, object] = {}
        self._overrides: dict[str, _Override] = {}
        self._compiled_overrides: dict[str, object] = {}
        self._rules: dict[str, object] = {}

    def register(self, defaults: Iterable[RuleDefault]) -> None:
        """Register rule defaults. A name registered twice, bad syntax or a cycle is a
        programming error: ValueError."""
        items = list(defaults)
        batch: dict[str, object] = {}
        for default in items:
            if default.name in self._defaults or default.name in batch:
                raise ValueError(f"policy rule {default.name!r} is registered twice")
            try:
                batch[default.name] = compile_check(default.check_str)
            except PolicySyntaxError as exc:
                raise ValueError(f"policy rule {default.name!r}: {exc}") from None
        compiled = {**self._compiled_defaults, **batch}
        effective = {**compiled, **self._compiled_overrides}
        cycle = _find_cycle({n: list(_references(c)) for n, c in effective.items()})
        if cycle:
            raise ValueError(f"policy rules refer to each other in a cycle: {' -> '.join(cycle)}")
        self._compiled_defaults = compiled
        self._defaults.update((d.name, d) for d in items)
        self._rebuild(self._compiled_overrides)

    def load_overrides(self) -> None:
        """Read the policy file (if any) and check the whole rule set: unknown references
        and cycles. Call once at start, after every service registered its defaults; calling
        again re-reads the file. Raises PolicyFileError and keeps the previous rules."""
        overrides: dict[str, _Override] = {}
        compiled: dict[str, object] = {}
        path = self.overrides_path
        if path is not None:
            overrides = _read_policy_file(path)
            for name, override in overrides.items():
                try:
                    compiled[name] = compile_check(override.check_str)
                except PolicySyntaxError as exc:
                    raise PolicyFileError(path, override.line, name, str(exc)) from None
        effective = {**self._compiled_defaults, **compiled}
        for name, check in effective.items():
            for ref in _references(check):
                if ref in effective:
                    continue
                if name in overrides:
                    raise PolicyFileError(
                        path, overrides[name].line, name, f"refers to unknown rule {ref!r}"
                    )
                raise ValueError(f"policy rule {name!r} refers to unknown rule {ref!r}")
        cycle = _find_cycle({n: list(_references(c)) for n, c in effective.items()})
        if cycle:
            culprit = next(n for n in cycle if n in overrides)  # defaults alone have no cycle
            raise PolicyFileError(
                path,
                overrides[culprit].line,
                culprit,
                f"rule references form a cycle: {' -> '.join(cycle)}",
            )
        for name in overrides:
            if name not in self._defaults:
                LOG.warning(
                    "policy file %s: line %s: override for unknown rule %r",
                    path,
                    overrides[name].line,
                    name,
                )
        self._overrides = overrides
        self._rebuild(compiled)

    def _rebuild(self, compiled_overrides: dict[str, object]) -> None:
        self._compiled_overrides = compiled_overrides
        # One assignment, so a concurrent enforce sees the old table or the new one.
        self._rules = {**self._compiled_defaults, **compiled_overrides}

    def enforce(self, rule: str, target: Mapping, creds: Mapping) -> bool:
        """Whether creds may do `rule` on target. An unregistered rule is a KeyError."""
        rules = self._rules
        check = rules.get(rule)
        if check is None:
            raise KeyError(f"policy rule {rule!r} is not registered")
        return bool(check(target, creds, rules))

    def authorize(self, rule: str, target: Mapping, creds: Mapping) -> None:
        """enforce, raising PermissionDenied when refused."""
        if not self.enforce(rule, target, creds):
            raise PermissionDenied(
                f"Policy does not allow {rule}", reason="POLICY_DENIED", rule=rule
            )

    def effective_rules(self) -> dict[str, str]:
        """Rule name -> check string in force (overrides over defaults), for display."""
        out = {name: d.check_str for name, d in self._defaults.items()}
        out.update({name: o.check_str for name, o in self._overrides.items()})
        return out

    @property
    def defaults(self) -> Mapping[str, RuleDefault]:
        return dict(self._defaults)
