"""What every page shares: templates rendered in the user's language, flash messages carried
in the session to the next page, list pages (search and page tokens) and gRPC failures shown
as pages."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import grpc
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from dashboard import i18n
from dashboard.auth import User, current_user

TEMPLATES = Path(__file__).parent / "templates"

# Autoescape on for every template: every name shown is escaped.
env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    extensions=["jinja2.ext.i18n"],
)
env.install_gettext_callables(i18n.gettext_, i18n.ngettext_, newstyle=True)  # type: ignore[attr-defined]


def language_of(request: Request) -> str:
    language = request.session.get("language") or request.app.state.config.default_language
    return str(language)


def render(
    request: Request, template: str, status_code: int = 200, **context: object
) -> HTMLResponse:
    html = env.get_template(template).render(
        request=request,
        user=current_user(request),
        csrftoken=request.scope["csrftoken"](),
        flashes=request.session.pop("flash", []),
        language=language_of(request),
        languages=i18n.LANGUAGES,
        optional_pages=request.app.state.optional_pages,
        **context,
    )
    return HTMLResponse(html, status_code=status_code)


def flash(request: Request, message: str, kind: str = "info") -> None:
    request.session.setdefault("flash", []).append({"kind": kind, "message": message})


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def back(request: Request, default: str = "/") -> RedirectResponse:
    """To the page the form was on (same site only), else `default`."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc == request.url.netloc and referer.path.startswith("/"):
        return redirect(referer.path + (f"?{referer.query}" if referer.query else ""))
    return redirect(default)


@dataclasses.dataclass
class Listing:
    """A list page's query: the search text and where the page starts."""

    q: str
    page_token: str
    page_size: int

    @classmethod
    def of(cls, request: Request) -> Listing:
        return cls(
            q=request.query_params.get("q", "").strip()[:255],
            page_token=request.query_params.get("page_token", ""),
            page_size=request.app.state.config.page_size,
        )

    def next_url(self, request: Request, next_page_token: str) -> str:
        if not next_page_token:
            return ""
        return f"{request.url.path}?{urlencode({'q': self.q, 'page_token': next_page_token})}"


async def list_page(
    request: Request, user: User, call: Any, message: Any, search: str = ""
) -> tuple[Any, dict[str, Any]]:
    """One page of a List RPC, searched by the request field `search`: the reply, and what the
    page's search box and pager need (`listing`, `next_url`)."""
    listing = Listing.of(request)
    fields = {"page_size": listing.page_size, "page_token": listing.page_token}
    if search and listing.q:
        fields[search] = listing.q
    reply = await call(message(**fields), metadata=user.metadata)
    return reply, {"listing": listing, "next_url": listing.next_url(request, reply.next_page_token)}


def enum_label(enum: EnumTypeWrapper, value: int, prefix: str) -> str:
    """SERVER_STATUS_ACTIVE -> active: an enum value as the pages show it."""
    return str(enum.Name(value)).removeprefix(prefix).lower()


def rpc_failure(request: Request, error: grpc.aio.AioRpcError) -> Response:
    """A refused call: on a form, the controller's message on the page the form was on; on a
    page, an error page with the matching HTTP status."""
    message = error.details() or error.code().name
    if request.method == "POST":
        flash(request, message, "error")
        return back(request)
    status = {
        grpc.StatusCode.NOT_FOUND: 404,
        grpc.StatusCode.PERMISSION_DENIED: 403,
        grpc.StatusCode.INVALID_ARGUMENT: 400,
        grpc.StatusCode.UNAVAILABLE: 503,
    }.get(error.code(), 500)
    return render(request, "error.html", status_code=status, message=message)
