"""The call pipeline every secured RPC runs through.

For every call it: takes or mints the x-request-id; authenticates the bearer token (unless the
method is open); refuses a request that does not decode or breaks the input rules
(request_checks.py) with INVALID_ARGUMENT; checks the method's policy rule; opens the request's
page token and seals the response's (page_tokens.py); maps typed domain errors to status codes
with details; turns any other exception into INTERNAL with the request id (never UNKNOWN,
never a stack trace to the client); and writes one access-log line and one latency sample
(controller.metrics.RPC_DURATION).

Each method is wrapped in it once, when its service is added (`add_secured_service`), rather
than by a grpc.aio interceptor: an interceptor adds an awaited hop to every call, health checks
included, that costs about a quarter of a health check.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, NoReturn

import grpc
from google.protobuf import message_factory
from google.protobuf.message import DecodeError, Message

from controller.auth import context as auth_context
from controller.logs import fields, request_id_var
from controller.metrics import RPC_DURATION
from controller.rpc import encoded, status
from controller.rpc.page_tokens import PageTokens
from controller.rpc.policy_spec import MethodSpec, specs_for
from stratus_common import errors

if TYPE_CHECKING:
    from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

    from controller.auth.policy import Enforcer

    # grpc's handler and context types are generic (in its stubs only) in messages this layer
    # never looks into; a handler's behaviour is typed for synchronous grpc, ours are grpc.aio.
    Handler = grpc.RpcMethodHandler[Any, Any]
    Context = grpc.aio.ServicerContext[Any, Any]
    Behavior = Callable[..., Any]

log = logging.getLogger("stratus.rpc")

_MAX_REQUEST_ID = 128
# What a kept request id may hold: log lines are key=value text, and an id with spaces, quotes
# or '=' could add forged fields to them. Any other id is replaced by a minted one.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+-]+")


def _new_request_id() -> str:
    """`req-` and a random (version 4) UUID, spelt as str(uuid.uuid4()) spells it at a third of
    its cost: every call that brings no id of its own mints one."""
    h = os.urandom(16).hex()
    variant = "89ab"[int(h[16], 16) & 3]
    return f"req-{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"


class Pipeline:
    def __init__(
        self,
        authenticate: Callable[[str], Awaitable[auth_context.Identity]],
        enforcer: Enforcer,
        *,
        check: Callable[[Message], None] | None = None,
        page_tokens: PageTokens | None = None,
        stream_recheck_seconds: float = 0.0,
    ) -> None:
        """`authenticate(token) -> Identity` is awaited; it raises Unauthenticated.
        `check(message)` raises InvalidArgument for a request that breaks the input rules;
        `page_tokens` seals the page tokens of the services' List methods. A stream the
        server sends on checks its caller again every `stream_recheck_seconds` (0: never)."""
        self.authenticate = authenticate
        self.enforcer = enforcer
        self.check = check
        self.page_tokens = page_tokens
        self.stream_recheck_seconds = stream_recheck_seconds


class _Refused:
    """What the deserializer hands on for a request it refused: the handler raises `error`
    once the caller is known (grpc would answer UNKNOWN for an exception raised there)."""

    __slots__ = ("error",)

    def __init__(self, error: errors.InvalidArgument) -> None:
        self.error = error


def _deserializer(
    message_class: type[Message], check: Callable[[Message], None] | None
) -> Callable[[bytes], Message | _Refused]:
    one_field = encoded.parse_one_field(message_class)

    def deserialize(data: bytes) -> Message | _Refused:
        # A bytes field has no input rule: a message of only that field needs no check.
        if one_field is not None and (chunk := one_field(data)) is not None:
            return chunk  # type: ignore[return-value]  # reads like the message
        try:
            message = message_class.FromString(data)
        except DecodeError:
            return _Refused(
                errors.InvalidArgument(
                    "request",
                    f"is not a valid {message_class.DESCRIPTOR.full_name} message",
                    reason="MALFORMED_REQUEST",
                )
            )
        if check is not None:
            try:
                check(message)
            except errors.InvalidArgument as exc:
                return _Refused(exc)
        return message

    return deserialize


def _accepted(request: Any) -> Any:
    if isinstance(request, _Refused):
        raise request.error
    return request


async def _accepted_stream(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        yield _accepted(request)


def add_secured_service(
    server: grpc.aio.Server,
    pipeline: Pipeline,
    servicer: object,
    descriptor: ServiceDescriptor,
    default: MethodSpec | None = None,
) -> None:
    """Adds a service whose every method runs through `pipeline`. A method that declares no
    policy rule gets `default`, or without one stops the start (specs_for)."""
    specs = specs_for(servicer, descriptor, default)
    handlers: dict[str, Handler] = {}
    for method in descriptor.methods:
        request = message_factory.GetMessageClass(method.input_type)
        response = message_factory.GetMessageClass(method.output_type)
        kind = _HANDLER_KINDS[method.client_streaming, method.server_streaming]
        handler = kind(
            getattr(servicer, method.name),
            request_deserializer=_deserializer(request, pipeline.check),
            response_serializer=encoded.serializer(response),
        )
        name = f"/{descriptor.full_name}/{method.name}"
        handlers[method.name] = _wrap(handler, _Call(pipeline, name, specs[name], method))
    # Generic only, not also registered: grpc.aio keeps one pending request per registered
    # method and waits on all of them for every call that arrives, a cost that grows with
    # the methods served (about a fifth of a health check's CPU with ours all registered).
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(descriptor.full_name, handlers),)
    )


_HANDLER_KINDS: dict[tuple[bool, bool], Callable[..., Handler]] = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


class _Call:
    """The pipeline of one method, run around the servicer's behaviour by _wrap."""

    def __init__(
        self, pipeline: Pipeline, method: str, spec: MethodSpec, descriptor: MethodDescriptor
    ) -> None:
        self.p = pipeline
        self.method = method
        self.spec = spec
        # Whether its request and response carry page tokens: known from its types, once.
        self.pages_in = "page_token" in descriptor.input_type.fields_by_name
        self.pages_out = "next_page_token" in descriptor.output_type.fields_by_name
        # This method's latency histogram per status code, looked up once per code.
        self.durations: dict[str, Any] = {}

    async def begin(
        self, context: Context, request: object, call_auth: auth_context.CallAuth
    ) -> str | None:
        """Admits the call; returns the bearer token it came with (None for open methods)."""
        metadata = context.invocation_metadata() or ()
        request_id: str | None = None
        token: str | None = None
        for key, value in metadata:
            if isinstance(value, bytes):  # only binary (-bin) keys, none of ours
                continue
            if key == "x-request-id" and _REQUEST_ID.fullmatch(value):
                request_id = value[:_MAX_REQUEST_ID]
            elif key == "authorization":
                token = value
        request_id_var.set(request_id or _new_request_id())
        auth_context.current.set(call_auth)
        spec = self.spec
        bearer = None if spec.is_open else await self.authenticate(token, call_auth)
        request = _accepted(request)
        if spec.rule is not None and not spec.deferred:
            target = (
                spec.target(request, call_auth) if (spec.target and request is not None) else None
            )
            call_auth.authorize(spec.rule, target)
        self.open_page_token(request)
        return bearer

    async def authenticate(self, token: str | None, call_auth: auth_context.CallAuth) -> str:
        if not token:
            raise errors.Unauthenticated(
                "This call needs `authorization: Bearer <token>` metadata", reason="TOKEN_MISSING"
            )
        scheme, _, bearer = token.partition(" ")
        if scheme.lower() != "bearer" or not bearer:
            raise errors.Unauthenticated(
                "The authorization metadata must be `Bearer <token>`", reason="TOKEN_MALFORMED"
            )
        call_auth.identity = await self.p.authenticate(bearer.strip())
        return bearer.strip()

    def open_page_token(self, request: Any) -> None:
        tokens = self.p.page_tokens
        if self.pages_in and tokens is not None and request is not None and request.page_token:
            request.page_token = tokens.open(request.page_token)

    def seal_page_token(self, response: Any) -> None:
        tokens = self.p.page_tokens
        if (
            self.pages_out
            and tokens is not None
            and response is not None
            and response.next_page_token
        ):
            response.next_page_token = tokens.seal(response.next_page_token)

    async def unary(
        self, request_or_iterator: Any, context: Context, behavior: Behavior, request: object
    ) -> Any:
        """The pipeline around a call with one response; `around` without the context
        manager's own cost, which every unary call would pay."""
        start = time.perf_counter()
        call_auth = auth_context.CallAuth(None, self.p.enforcer)
        try:
            await self.begin(context, request, call_auth)
            response = await behavior(request_or_iterator, context)
            self.seal_page_token(response)
            self.check_authorized(call_auth)
        except (grpc.aio.AbortError, asyncio.CancelledError) as exc:
            self.done(start, _stopped_code(exc, ""), call_auth)
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes a status
            await self.failed(context, exc, start, call_auth)
        else:
            self.succeeded(context, start, call_auth)
            return response

    @contextlib.asynccontextmanager
    async def around(self, context: Context, request: object) -> AsyncIterator[_Admitted]:
        """The pipeline around a stream's body: ends the call with OK and the request id, or
        with the status for what the body raised; writes the access-log line either way."""
        start = time.perf_counter()
        call_auth = auth_context.CallAuth(None, self.p.enforcer)
        admitted: _Admitted | None = None
        try:
            token = await self.begin(context, request, call_auth)
            admitted = _Admitted(call_auth, token, request_id_var.get())
            yield admitted
            self.check_authorized(call_auth)
        except (grpc.aio.AbortError, asyncio.CancelledError) as exc:
            self.done(start, _stopped_code(exc, admitted.revoked if admitted else ""), call_auth)
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes a status
            await self.failed(context, exc, start, call_auth)
        else:
            self.succeeded(context, start, call_auth)

    def succeeded(self, context: Context, start: float, call_auth: auth_context.CallAuth) -> None:
        context.set_trailing_metadata((("x-request-id", request_id_var.get()),))
        self.done(start, "OK", call_auth)

    async def failed(
        self, context: Context, exc: Exception, start: float, call_auth: auth_context.CallAuth
    ) -> NoReturn:
        """Ends the call with the status for `exc` (raises AbortError), after its log line."""
        self.done(start, _code_name(exc), call_auth)
        await self.fail(context, exc, request_id_var.get())

    @contextlib.asynccontextmanager
    async def rechecked(self, context: Context, admitted: _Admitted) -> AsyncIterator[None]:
        """Runs a stream's body while its caller is checked again, every
        `stream_recheck_seconds`: a token revoked or expired, a user disabled or deleted, a role
        withdrawn ends the stream with the status a new call would get (the status is sent at
        once, even to a client that reads nothing, then the body is cancelled)."""
        interval, token = self.p.stream_recheck_seconds, admitted.token
        if token is None or interval <= 0:
            yield
            return
        body = asyncio.current_task()
        assert body is not None, "a call runs in a task"

        async def recheck() -> None:
            while True:
                await asyncio.sleep(interval)
                try:
                    admitted.auth.reauthorize(await self.p.authenticate(token))
                except errors.StratusError as exc:
                    admitted.revoked = _code_name(exc)
                    log.info(
                        "stream ended: its caller lost access",
                        extra=fields(method=self.method, reason=exc.reason),
                    )
                    with contextlib.suppress(Exception):  # AbortError is raised by design
                        await self.fail(context, exc, admitted.request_id)
                    body.cancel()
                    return
                except Exception:
                    log.exception(
                        "could not check a stream's caller again", extra=fields(method=self.method)
                    )

        checker = asyncio.ensure_future(recheck())
        try:
            yield
        finally:
            checker.cancel()

    def check_authorized(self, call_auth: auth_context.CallAuth) -> None:
        if self.spec.deferred and not call_auth.authorized:
            log.error("handler returned without checking policy", extra=fields(method=self.method))
            raise errors.PermissionDenied(
                "Policy was not checked for this call", reason="POLICY_NOT_CHECKED"
            )

    async def fail(self, context: Context, exc: Exception, request_id: str) -> NoReturn:
        """Ends the call with the status for `exc` (raises AbortError)."""
        if isinstance(exc, errors.StratusError):
            code, message, details = status.from_exception(exc)
        else:
            log.error("unhandled error", exc_info=exc, extra=fields(method=self.method))
            code = grpc.StatusCode.INTERNAL
            message = f"Internal error; quote request id {request_id} to the operator"
            details = status.status_details(code, message, "INTERNAL", {"request_id": request_id})
        await context.abort(
            code,
            message,
            trailing_metadata=(("grpc-status-details-bin", details), ("x-request-id", request_id)),
        )

    def done(self, start: float, code: str, call_auth: auth_context.CallAuth) -> None:
        seconds = time.perf_counter() - start
        durations = self.durations.get(code)
        if durations is None:
            durations = self.durations[code] = RPC_DURATION.labels(self.method, code)
        durations.observe(seconds)
        ident = call_auth.identity
        log.info(
            "rpc",
            extra=fields(
                method=self.method,
                code=code,
                ms=round(seconds * 1000, 2),
                user_id=ident.user_id if ident else "-",
            ),
        )


@dataclasses.dataclass
class _Admitted:
    """A call past authentication: its caller, the token it came with, and why the pipeline
    ended it if it did."""

    auth: auth_context.CallAuth
    token: str | None
    request_id: str
    revoked: str = ""


def _stopped_code(exc: BaseException, revoked: str) -> str:
    """The access log's code for a call the handler aborted, or that was cancelled: the client
    went away, the server is stopping, or (`revoked`) the pipeline ended a stream."""
    if isinstance(exc, grpc.aio.AbortError):
        return "ABORTED_BY_HANDLER"
    return revoked or "CANCELLED"


def _code_name(exc: Exception) -> str:
    return status.code_for(exc).name if isinstance(exc, errors.StratusError) else "INTERNAL"


def _wrap(handler: Handler, call: _Call) -> Handler:
    """Wraps the four kinds of handlers with the same pipeline."""

    async def stream_response(
        request_or_iterator: Any, context: Context, behavior: Behavior, request: object
    ) -> AsyncIterator[Any]:
        async with call.around(context, request) as admitted, call.rechecked(context, admitted):
            result = behavior(request_or_iterator, context)
            if inspect.isasyncgen(result):
                # Closed here, not whenever it is collected: when the call is cancelled while
                # the body waits at a `yield`, its clean-up (a node's session) runs now.
                async with contextlib.aclosing(result):
                    async for item in result:
                        yield item
            else:
                await result

    ser = dict(
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
    # grpc.aio picks how to run a behaviour by its kind (coroutine or async generator
    # function), so each wrapper must itself be a real `async def`.
    inner: Behavior
    if handler.unary_unary:
        inner = handler.unary_unary

        async def unary_unary(request: Any, context: Context) -> Any:
            return await call.unary(request, context, inner, request)

        return grpc.unary_unary_rpc_method_handler(unary_unary, **ser)
    if handler.stream_unary:
        inner = handler.stream_unary

        async def stream_unary(requests: AsyncIterator[Any], context: Context) -> Any:
            return await call.unary(_accepted_stream(requests), context, inner, None)

        return grpc.stream_unary_rpc_method_handler(stream_unary, **ser)
    if handler.unary_stream:
        inner = handler.unary_stream

        async def unary_stream(request: Any, context: Context) -> AsyncIterator[Any]:
            async for item in stream_response(request, context, inner, request):
                yield item

        return grpc.unary_stream_rpc_method_handler(unary_stream, **ser)
    assert handler.stream_stream is not None, "a handler has one of the four behaviours"
    inner = handler.stream_stream

    async def stream_stream(requests: AsyncIterator[Any], context: Context) -> AsyncIterator[Any]:
        async for item in stream_response(_accepted_stream(requests), context, inner, None):
            yield item

    return grpc.stream_stream_rpc_method_handler(stream_stream, **ser)
