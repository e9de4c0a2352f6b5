"""A grpc.aio server with health checking and nothing else, on the controller's event loop.

What it answers per second is the ceiling of the gRPC stack itself on this machine: the
identity benchmark measures it beside the controller, in the same run.
  python -m bench.bare_server    (prints "port N", serves until killed)
"""

import grpc
import uvloop
from grpc_health.v1 import health, health_pb2, health_pb2_grpc


async def serve():
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    print(f"port {port}", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    uvloop.run(serve())
