"""A grpc.aio server that moves image data and does nothing else: the gRPC stack's own ceiling.

It answers the two data methods of stratus.image.v1.ImageService under their real names, so
the benchmark's own client and stubs call it unchanged, with the controller's listener
options and the same message size:
- DownloadImageData streams --size bytes from memory: one prebuilt message, sent again and
  again (no file, no copy of ours, no serialization per message);
- UploadImageData receives every message, keeps nothing, and answers an empty Image.
What it moves per second is what grpc.aio itself allows on this machine; the image benchmark
measures it beside the controller, in the same run.
  python -m bench.bare_image_server --size BYTES --chunk BYTES
  (prints "port N", serves until killed)
"""

import argparse

import grpc
import uvloop

from controller.config import ControllerSection
from controller.server import channel_options
from stratus.image.v1 import image_service_pb2 as pb

SERVICE = "stratus.image.v1.ImageService"


def handlers(size: int, chunk: int) -> grpc.GenericRpcHandler:
    block = pb.DownloadImageDataResponse(data=bytes(chunk)).SerializeToString()
    info = pb.DownloadImageDataResponse(info=pb.ImageDataInfo(size=size)).SerializeToString()
    tail = pb.DownloadImageDataResponse(data=bytes(size % chunk)).SerializeToString()
    empty_image = pb.Image().SerializeToString()

    async def download(request: bytes, context):
        yield info
        for _ in range(size // chunk):
            yield block
        if size % chunk:
            yield tail

    async def upload(requests, context):
        async for _ in requests:
            pass
        return empty_image

    def raw(value: bytes) -> bytes:
        return value

    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "DownloadImageData": grpc.unary_stream_rpc_method_handler(
                download, request_deserializer=raw, response_serializer=raw
            ),
            "UploadImageData": grpc.stream_unary_rpc_method_handler(
                upload, request_deserializer=raw, response_serializer=raw
            ),
        },
    )


async def serve(size: int, chunk: int):
    defaults = ControllerSection()
    server = grpc.aio.server(
        options=channel_options(defaults.max_message_bytes, defaults.stream_window_bytes)
    )
    server.add_generic_rpc_handlers((handlers(size, chunk),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"port {port}", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, required=True, help="bytes per download")
    parser.add_argument("--chunk", type=int, required=True, help="bytes of data per message")
    args = parser.parse_args()
    uvloop.run(serve(args.size, args.chunk))
