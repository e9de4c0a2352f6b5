"""Image transfers from an asyncio client, for load tests and benchmarks: what a call ended
with, as "CODE REASON" ("" for OK)."""

from __future__ import annotations

import os

import grpc

from stratus.image.v1 import image_service_pb2 as ipb
from tests.support.errors import reason_of

MIB = 1024 * 1024


def outcome(error: grpc.RpcError) -> str:
    return f"{error.code().name} {reason_of(error.trailing_metadata())}"


def upload(images, metadata, image_id: str, size: int, timeout: float) -> str:
    """Sends `size` bytes, a MiB a message, through a synchronous stub: grpc.aio's client
    reports a refusal that ends the call while data is still in flight as INTERNAL ("Internal
    error from Core"); the synchronous client reports what the server said."""
    block = os.urandom(MIB)

    def messages():
        yield ipb.UploadImageDataRequest(image_id=image_id, size=size)
        for start in range(0, size, MIB):
            yield ipb.UploadImageDataRequest(data=block[: min(MIB, size - start)])

    try:
        images.UploadImageData(messages(), metadata=metadata, timeout=timeout)
    except grpc.RpcError as error:
        return outcome(error)
    return ""
