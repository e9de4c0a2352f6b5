"""The fastest an HTTP server can send a file on this machine: the download's TCP limit.

Every GET is answered with one file, sent by the kernel with sendfile(2) from the page cache
to the socket: no copy through user space, no hashing, no framing beyond one HTTP/1.1 header.
The image benchmark reads it with the very client it reads Glance with, so what this moves
per second is what loopback TCP and that client allow; no server can do better.
  python -m bench.sendfile_server FILE   (prints "port N", serves until killed)
"""

from __future__ import annotations

import argparse
import asyncio
import os


async def serve(path: str, size: int) -> None:
    header = (
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {size}\r\nConnection: close\r\n\r\n"
    ).encode()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (await reader.readline()) not in (b"\r\n", b""):
                pass  # the request and its headers: every request gets the file
            writer.write(header)
            await writer.drain()
            with await asyncio.to_thread(open, path, "rb") as data:
                await asyncio.get_running_loop().sendfile(writer.transport, data)
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    print("port", server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("file")
    path = parser.parse_args().file
    asyncio.run(serve(path, os.path.getsize(path)))


if __name__ == "__main__":
    main()
