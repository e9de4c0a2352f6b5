"""Controller configuration: a TOML file, then STRATUS_<SECTION>_<KEY> environment overrides.

Each area declares its own section as a dataclass and asks for it with `Config.section(cls)`,
so adding an option never touches this module. Unknown sections or keys are refused at start
(`Config.check_unknown`) so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from pathlib import Path

from stratus_common import metrics_endpoint
from stratus_common.config import ENV_PREFIX, ConfigError, build_section, read_toml

DEFAULT_PATH = Path("/etc/stratus/controller.toml")


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
    # What a client may send on one stream ahead of what the controller has consumed (the
    # HTTP/2 stream window): bounds the memory of each upload.
    stream_window_bytes: int = 1024 * 1024
    # A stream the controller sends on (WatchServers, downloads) checks its caller's token,
    # user and roles again this often, and ends when access is gone (0: never).
    stream_recheck_seconds: float = 5.0
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
class MetricsSection:
    section: typing.ClassVar[str] = "metrics"
    # The Prometheus endpoint (GET /metrics), host:port; empty = off (it has no authentication).
    listen: str = ""

    def __post_init__(self):
        metrics_endpoint.check_listen(self.listen)


@dataclasses.dataclass
class LoggingSection:
    section: typing.ClassVar[str] = "logging"
    level: str = "info"
    # "text" (key=value, for people) or "json" (one object a line, for collectors).
    format: str = "text"


class Config:
    def __init__(
        self, raw: dict, env: typing.Mapping[str, str] | None = None, source: str = "<defaults>"
    ):
        self._raw = raw
        self._env = os.environ if env is None else env
        self.source = source
        self._sections: dict[str, object] = {}

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, env=None) -> Config:
        """Reads the file; a missing default file is fine (all defaults), a missing named one
        is not."""
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
        for builtin in (ControllerSection, DatabaseSection, LoggingSection, MetricsSection):
            self.section(builtin)
        unknown = set(self._raw) - set(self._sections)
        if unknown:
            raise ConfigError(f"{self.source}: unknown section(s): {', '.join(sorted(unknown))}")

    # The sections every part of the controller reads.
    @property
    def controller(self) -> ControllerSection:
        return self.section(ControllerSection)

    @property
    def database(self) -> DatabaseSection:
        return self.section(DatabaseSection)

    @property
    def logging(self) -> LoggingSection:
        return self.section(LoggingSection)

    @property
    def metrics(self) -> MetricsSection:
        return self.section(MetricsSection)
