"""The ASGI application: security headers, the server-side session, CSRF checks on every
state-changing request, then the pages."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
from asgi_csrf import asgi_csrf
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from starsessions import SessionAutoloadMiddleware, SessionMiddleware
from starsessions.stores.memory import InMemoryStore

from dashboard import i18n
from dashboard.api import Api, open_channel
from dashboard.auth import AdminRequired, LoginRequired, sign_out
from dashboard.config import DashboardSection
from dashboard.security import SecurityHeaders
from dashboard.views import (
    admin,
    admin_identity,
    images,
    keypairs,
    login,
    networks,
    overview,
    security_groups,
    servers,
)
from dashboard.web import flash, language_of, redirect, render, rpc_failure
from stratus_common import systemd

STATIC = Path(__file__).parent / "static"
# Services of issues still under way: their pages appear once the controller offers them.
OPTIONAL_SERVICES = {"networks": "stratus.network.v1.NetworkService"}


def secret_key(path: str) -> str:
    """The CSRF signing key, made once (0600) so that restarts keep open forms valid."""
    file = Path(path)
    if not file.exists():
        file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    return file.read_text().strip()


async def login_required(request: Request, exc: Exception) -> Response:
    if request.headers.get("accept") == "text/event-stream" or request.method != "GET":
        return PlainTextResponse("sign in first", status_code=401)
    return redirect(f"/login?next={request.url.path}")


class RequestLanguage:
    """Every request speaks its user's language, from the first text it translates (flash
    messages too) to the page it renders."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            i18n.use(language_of(Request(scope)))
        await self.app(scope, receive, send)


async def admin_required(request: Request, exc: Exception) -> Response:
    return render(request, "error.html", status_code=403, message=i18n._("Admins only."))


async def rpc_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, grpc.aio.AioRpcError)
    if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
        # The token was revoked or has expired at the controller: the session ends with it.
        sign_out(request)
        flash(request, i18n._("Your session has ended; please sign in again."), "error")
        return redirect("/login")
    return rpc_failure(request, exc)


def build(config: DashboardSection) -> Starlette:
    tls = bool(config.tls_cert_file)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The channel belongs to the server's event loop: it is opened here, not before.
        api = app.state.api = Api(open_channel(config.controller, config.controller_ca_file))
        for page, service in OPTIONAL_SERVICES.items():
            app.state.optional_pages[page] = await api.serves(service)
        # Ready without waiting for the controller: pages say so while it is away.
        systemd.notify(systemd.READY)
        watchdog = systemd.start_watchdog()
        yield
        systemd.notify(systemd.STOPPING)
        if watchdog is not None:
            watchdog.cancel()
        await api.channel.close()

    routes = [
        *login.routes,
        *overview.routes,
        *images.routes,
        *servers.routes,
        *keypairs.routes,
        *networks.routes,
        *security_groups.routes,
        *admin.routes,
        *admin_identity.routes,
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            LoginRequired: login_required,
            AdminRequired: admin_required,
            grpc.aio.AioRpcError: rpc_error,
        },
        middleware=[
            Middleware(SecurityHeaders, tls=tls),
            Middleware(
                SessionMiddleware,
                store=InMemoryStore(),
                lifetime=config.session_idle_seconds,
                rolling=True,
                cookie_name="stratus_session",
                cookie_same_site="strict",
                cookie_https_only=tls or config.secure_cookies,
            ),
            Middleware(SessionAutoloadMiddleware),
            Middleware(RequestLanguage),
            # CSRF: a signed double-submit token, checked on every POST/PUT/DELETE (form field
            # or x-csrftoken header), the sign-in form included.
            Middleware(
                _CsrfMiddleware,
                signing_secret=secret_key(config.secret_key_file),
                cookie_secure=tls or config.secure_cookies,
            ),
        ],
    )
    app.state.config = config
    app.state.optional_pages = dict.fromkeys(OPTIONAL_SERVICES, False)
    return app


class _CsrfMiddleware:
    """asgi-csrf as a Starlette middleware class (it ships as a wrapping function)."""

    def __init__(self, app: ASGIApp, signing_secret: str, cookie_secure: bool):
        self.wrapped = asgi_csrf(
            app,
            signing_secret=signing_secret,
            cookie_secure=cookie_secure,
            cookie_samesite="Strict",
            always_protect={"/login"},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.wrapped(scope, receive, send)
