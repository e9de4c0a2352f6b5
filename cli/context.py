"""What a command's function receives: its streams, its settings and, on first use, a
session to the API."""

import functools
from collections.abc import Mapping
from typing import TextIO

from cli import config
from cli.parser import global_options
from cli.progress import Progress
from cli.session import Session, TokenIssuer
from cli.token_cache import TokenCache, cache_dir


class Context:
    def __init__(
        self,
        args,
        *,
        env: Mapping[str, str],
        stdout: TextIO,
        stderr: TextIO,
        parser=None,
        issue_token: TokenIssuer | None = None,
    ):
        self.args = args
        self.options = global_options(args)  # --cloud, --url, ..., --debug
        self.env = env
        self.stdout = stdout
        self.stderr = stderr
        self.parser = parser
        self.issue_token = issue_token

    @functools.cached_property
    def settings(self) -> config.Settings:
        return config.resolve(self.options, self.env)

    @functools.cached_property
    def session(self) -> Session:
        settings = self.settings
        cache = None
        if not settings.token:
            cache = TokenCache(
                cache_dir(self.env),
                cloud=settings.cloud,
                url=settings.require_url(),
                username=settings.username or "",
                project=settings.project or "",
                password=settings.password or "",
            )
        return Session(
            settings,
            cache=cache,
            issue_token=self.issue_token,
            debug=self.stderr if self.options.get("debug") else None,
        )

    def progress(self, total: int | None, label: str = "") -> Progress:
        """A progress bar on stderr, drawn only when stderr is a terminal."""
        return Progress(self.stderr, total, label=label)

    def close(self) -> None:
        if "session" in self.__dict__:
            self.session.close()
