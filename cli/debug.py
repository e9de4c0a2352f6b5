"""`--debug`: a client interceptor that writes each call's method, request ID and outcome."""

import time
from typing import TextIO

import grpc


def _request_id(details) -> str:
    return dict(details.metadata or ()).get("x-request-id", "")


class DebugInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    def __init__(self, stream: TextIO):
        self.stream = stream

    def _say(self, text: str) -> None:
        self.stream.write(f"stratus: debug: {text}\n")
        self.stream.flush()

    def _unary(self, continuation, details, request):
        self._say(f"call {details.method} ({_request_id(details)})")
        started = time.monotonic()
        call = continuation(details, request)
        code = call.code()  # waits for the end of the call
        self._say(f"{details.method} -> {code.name} in {time.monotonic() - started:.3f} s")
        return call

    def _streaming(self, continuation, details, request):
        self._say(f"call {details.method} ({_request_id(details)}, streaming)")
        return continuation(details, request)

    intercept_unary_unary = _unary
    intercept_stream_unary = _unary
    intercept_unary_stream = _streaming
    intercept_stream_stream = _streaming
