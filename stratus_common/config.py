"""Configuration loading both processes share: a TOML file's tables turned into section
dataclasses, with STRATUS_<SECTION>_<KEY> environment overrides where the caller passes them.

Unknown options and wrong types are refused, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from pathlib import Path

from stratus_common import systemd

ENV_PREFIX = "STRATUS_"


class ConfigError(Exception):
    pass


def read_toml(file: Path, explicit: bool) -> dict:
    """A configuration file's tables; {} for a missing file nobody named."""
    if not file.exists():
        if explicit:
            raise ConfigError(f"configuration file {file} does not exist")
        return {}
    try:
        return tomllib.loads(file.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: {exc}") from None


def build_section(
    cls, name: str, values: dict, source: str, env: typing.Mapping[str, str] | None = None
):
    """Section dataclass `cls` from its table: unknown options and wrong types are refused;
    STRATUS_<NAME>_<OPTION> in `env` wins over the file."""
    values = dict(values)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(fields)
    if unknown:
        raise ConfigError(f"{source}: unknown option(s) in [{name}]: {', '.join(sorted(unknown))}")
    hints = typing.get_type_hints(cls)
    for key in fields:
        env_key = f"{ENV_PREFIX}{name.upper()}_{key.upper()}"
        if env and env_key in env:
            values[key] = _parse_env(env_key, env[env_key], hints[key])
        elif key in values:
            values[key] = _check_type(f"[{name}] {key}", values[key], hints[key])
        if isinstance(values.get(key), str):
            values[key] = _resolve_credential(f"[{name}] {key}", values[key])
    return cls(**values)


def _resolve_credential(label: str, value: str) -> str:
    """`credential:NAME` is the content of systemd's credential NAME, `credential-path:NAME`
    its path (for options naming a file), so secrets stay out of the configuration file."""
    kind, _, name = value.partition(":")
    if kind not in ("credential", "credential-path") or not name:
        return value
    try:
        path = systemd.credential_path(name)
    except LookupError as exc:
        raise ConfigError(f"{label}: {exc}") from None
    return str(path) if kind == "credential-path" else path.read_text().rstrip("\n")


def _parse_env(key, text, kind):
    try:
        if kind is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if kind in (int, float, str):
            return kind(text)
        if typing.get_origin(kind) is list:
            return [item.strip() for item in text.split(",") if item.strip()]
    except ValueError:
        raise ConfigError(
            f"environment variable {key}={text!r} is not a valid {kind.__name__}"
        ) from None
    raise ConfigError(f"environment variable {key} cannot set an option of type {kind}")


def _check_type(label, value, kind):
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    expected = typing.get_origin(kind) or kind
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(
            f"{label} must be of type {getattr(kind, '__name__', kind)}, not {type(value).__name__}"
        )
    return value
