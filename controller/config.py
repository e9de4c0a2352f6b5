"""Controller configuration: a TOML file, then STRATUS_<SECTION>_<KEY> environment overrides.

Each area declares its own section as a dataclass and asks for it with `Config.section(cls)`,
so adding an option never touches this module. Unknown sections or keys are refused at start
(`Config.check_unknown`) so a typo never silently falls back to a default.
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from pathlib import Path

DEFAULT_PATH = Path("/etc/stratus/controller.toml")
ENV_PREFIX = "STRATUS_"


class ConfigError(Exception):
    pass


@dataclasses.dataclass
class ControllerSection:
    """[controller]: listeners and where state lives."""

    section: typing.ClassVar[str] = "controller"
    listen: str = "127.0.0.1:5000"
    # Where clients reach the public listener; used for the catalog. Defaults to listen.
    public_url: str = ""
    region: str = "RegionOne"
    state_dir: str = "/var/lib/stratus"
    # Seconds in-flight RPCs get to finish after SIGTERM.
    shutdown_grace: float = 10.0
    max_message_bytes: int = 4 * 1024 * 1024
    # TLS for the public listener: empty means plain text (loopback or a trusted network).
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # "uvloop" (libuv: the fastest loop for grpc.aio's own scheduling) or "asyncio".
    event_loop: str = "uvloop"


@dataclasses.dataclass
class DatabaseSection:
    section: typing.ClassVar[str] = "database"
    # sqlite:///path, postgresql://user:pw@host:port/db, mysql://...; empty = state_dir/stratus.db
    url: str = ""
    # Worker threads (and pooled connections) that run database work off the event loop.
    workers: int = 8


@dataclasses.dataclass
class LoggingSection:
    section: typing.ClassVar[str] = "logging"
    level: str = "info"
    # "text" (key=value, for people) or "json" (one object a line, for collectors).
    format: str = "text"


class Config:
    def __init__(self, raw: dict, env: typing.Mapping[str, str] | None = None, source: str = "<defaults>"):
        self._raw = raw
        self._env = os.environ if env is None else env
        self.source = source
        self._sections: dict[str, object] = {}

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, env=None) -> "Config":
        """Reads the file; a missing default file is fine (all defaults), a missing named one is not."""
        env = os.environ if env is None else env
        explicit = path is not None or f"{ENV_PREFIX}CONFIG" in env
        file = Path(path or env.get(f"{ENV_PREFIX}CONFIG") or DEFAULT_PATH)
        raw = read_toml(file, explicit)
        return cls(raw, env, source=str(file) if file.exists() else "<defaults>")

    def section(self, cls):
        name = cls.section
        if name not in self._sections:
            self._sections[name] = self._build(cls, name)
        return self._sections[name]

    def _build(self, cls, name):
        return build_section(cls, name, self._raw.get(name, {}), self.source, self._env)

    def check_unknown(self):
        for builtin in (ControllerSection, DatabaseSection, LoggingSection):
            self.section(builtin)
        unknown = set(self._raw) - set(self._sections)
        if unknown:
            raise ConfigError(f"{self.source}: unknown section(s): {', '.join(sorted(unknown))}")

    # The three sections every part of the controller reads.
    @property
    def controller(self) -> ControllerSection:
        return self.section(ControllerSection)

    @property
    def database(self) -> DatabaseSection:
        return self.section(DatabaseSection)

    @property
    def logging(self) -> LoggingSection:
        return self.section(LoggingSection)


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


def build_section(cls, name: str, values: dict, source: str,
                  env: typing.Mapping[str, str] | None = None):
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
    return cls(**values)


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
        raise ConfigError(f"environment variable {key}={text!r} is not a valid {kind.__name__}") from None
    raise ConfigError(f"environment variable {key} cannot set an option of type {kind}")


def _check_type(label, value, kind):
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    expected = typing.get_origin(kind) or kind
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(f"{label} must be of type {getattr(kind, '__name__', kind)}, "
                          f"not {type(value).__name__}")
    return value
