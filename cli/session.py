"""One connection to the API for one command: the channel, the token, and calls that carry
`authorization` and `x-request-id` metadata. A cached token the server refuses is dropped
and, once, replaced by a fresh one."""

import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TextIO

import grpc

from cli.config import Settings
from cli.debug import DebugInterceptor
from cli.errors import ConfigError
from cli.token_cache import CachedToken, TokenCache

# Issues a fresh token with the settings' password; given the session to call through.
TokenIssuer = Callable[["Session"], CachedToken]

_PLAINTEXT = ("grpc://", "http://")
_TLS = ("grpcs://", "https://")


def channel_for(settings: Settings) -> grpc.Channel:
    """A channel to settings.url: TLS for grpcs:// or https://, or when a CA file is given."""
    url = settings.require_url()
    target, tls = url, bool(settings.cacert)
    for prefix in _PLAINTEXT + _TLS:
        if url.startswith(prefix):
            target, tls = url[len(prefix) :].rstrip("/"), prefix in _TLS
    if not tls:
        return grpc.insecure_channel(target)
    roots = None
    if settings.cacert:
        try:
            roots = Path(settings.cacert).read_bytes()
        except OSError as e:
            raise ConfigError(
                f"cannot read CA certificate {settings.cacert}: {e.strerror}"
            ) from None
    return grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=roots))


class Session:
    def __init__(
        self,
        settings: Settings,
        *,
        cache: TokenCache | None = None,
        issue_token: TokenIssuer | None = None,
        request_id: str | None = None,
        debug: TextIO | None = None,
    ):
        self.settings = settings
        self.debug = debug
        self.cache = cache
        self.issue_token = issue_token
        self.request_id = request_id or f"req-{uuid.uuid4()}"
        self._channel: grpc.Channel | None = None
        self._token: str | None = settings.token
        self._token_from_cache = False
        # What the session's token carries, when it was issued or cached here.
        self.current: CachedToken | None = None

    @property
    def channel(self) -> grpc.Channel:
        if self._channel is None:
            self._channel = channel_for(self.settings)
            if self.debug is not None:
                self._channel = grpc.intercept_channel(self._channel, DebugInterceptor(self.debug))
        return self._channel

    def stub(self, stub_class):
        return stub_class(self.channel)

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    # -- tokens ------------------------------------------------------------------------

    def new_token(self) -> CachedToken:
        """Issues a token with the password and caches it."""
        if self.issue_token is None:
            raise ConfigError("this client cannot issue tokens")
        if not (self.settings.username and self.settings.password):
            raise ConfigError(
                "no credentials: set STRATUS_USERNAME and STRATUS_PASSWORD, "
                "pass --username and --password, or choose a cloud with --cloud"
            )
        issued = self.issue_token(self)
        if self.cache is not None:
            self.cache.store(issued)
        self._token, self._token_from_cache = issued.token, False
        self.current = issued
        return issued

    def token(self) -> str:
        if self._token is None:
            cached = self.cache.load() if self.cache is not None else None
            if cached is not None:
                self._token, self._token_from_cache = cached.token, True
                self.current = cached
            else:
                self.new_token()
        return self._token

    def _refused(self, error: grpc.RpcError, authenticated: bool) -> bool:
        """Handles a refused token: drops it; True when a retry with a fresh one may succeed."""
        if not authenticated or error.code() != grpc.StatusCode.UNAUTHENTICATED:
            return False
        if self.settings.token:  # given explicitly: nothing else to try
            return False
        retry = self._token_from_cache
        if self.cache is not None:
            self.cache.drop()
        self._token, self._token_from_cache, self.current = None, False, None
        return retry

    def metadata(self, authenticated: bool = True) -> list[tuple[str, str]]:
        metadata = [("x-request-id", self.request_id)]
        if authenticated:
            metadata.append(("authorization", f"Bearer {self.token()}"))
        return metadata

    # -- calls -------------------------------------------------------------------------

    def call(self, method, request, *, authenticated: bool = True, timeout: float | None = None):
        """A unary call (or a client-streaming one, when `request` is a callable that makes
        a fresh request iterator, so that a retry can send it again)."""
        timeout = timeout if timeout is not None else self.settings.timeout
        for attempt in (1, 2):
            payload = request() if callable(request) else request
            # Outside the try: a refused password login must not drop the cached token.
            metadata = self.metadata(authenticated)
            try:
                return method(payload, metadata=metadata, timeout=timeout)
            except grpc.RpcError as e:
                if attempt == 2 or not self._refused(e, authenticated):
                    raise

    def stream(self, method, request, *, authenticated: bool = True) -> Iterator:
        """A server-streaming call's messages; the call is cancelled when iteration stops."""
        for attempt in (1, 2):
            call = method(request, metadata=self.metadata(authenticated))
            received = False
            try:
                for message in call:
                    received = True
                    yield message
                return
            except grpc.RpcError as e:
                if received or attempt == 2 or not self._refused(e, authenticated):
                    raise
            finally:
                call.cancel()

    def pages(self, method, request, field: str) -> Iterator[list]:
        """The items of a List method page by page, following next_page_token."""
        while True:
            response = self.call(method, request)
            yield list(getattr(response, field))
            if not response.next_page_token:
                return
            request.page_token = response.next_page_token

    def paged(self, method, request, field: str) -> Iterable:
        """Every item of a List method."""
        for page in self.pages(method, request, field):
            yield from page
