"""Image benchmark: streamed upload and download over real gRPC, beside cp + sync on the same disk.

Runs a real controller process (SQLite, file store under a temporary directory) and drives it
from this process over loopback:
  python -m bench.image_bench [--size-mib 1024] [--rss-size-mib 4096] [--chunk-kib 1024]
Prints MiB/s of `cp` + `sync` of a file of that size, of UploadImageData (inspected, hashed,
fsynced) and of DownloadImageData, each with its ratio to cp + sync; then the controller's
peak RSS during an upload of --rss-size-mib (its high-water mark is reset just before).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from bench.common import start_controller
from stratus.image.v1 import image_service_pb2 as pb
from stratus.image.v1 import image_service_pb2_grpc as pb_grpc
from tests.support.cloud import Cloud

MIB = 1024 * 1024


def make_file(path: Path, size: int) -> None:
    block = os.urandom(MIB)
    with open(path, "wb") as out:
        for _ in range(size // MIB):
            out.write(block)
        out.write(block[: size % MIB])
        out.flush()
        os.fsync(out.fileno())


def cp_sync(source: Path, target: Path) -> float:
    start = time.perf_counter()
    subprocess.run(["cp", str(source), str(target)], check=True)
    subprocess.run(["sync"], check=True)
    elapsed = time.perf_counter() - start
    target.unlink()
    return elapsed


def file_messages(image_id: str, path: Path, chunk: int):
    yield pb.UploadImageDataRequest(image_id=image_id)
    with open(path, "rb") as source:
        while data := source.read(chunk):
            yield pb.UploadImageDataRequest(data=data)
    yield pb.UploadImageDataRequest(last=True)


def block_messages(image_id: str, size: int, chunk: int):
    yield pb.UploadImageDataRequest(image_id=image_id)
    block = os.urandom(chunk)
    for start in range(0, size, chunk):
        yield pb.UploadImageDataRequest(data=block[: min(chunk, size - start)])
    yield pb.UploadImageDataRequest(last=True)


class RssWatch:
    """Samples a process's resident set while a transfer runs; reads the kernel's peak too."""

    def __init__(self, pid: int):
        self.pid, self.samples, self._stop = pid, [], threading.Event()
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _status(self, key: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
        return 0

    def _run(self):
        while not self._stop.wait(0.2):
            self.samples.append(self._status("VmRSS"))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = self._status("VmHWM")


def run(size: int, rss_size: int, chunk: int) -> None:
    ctl = start_controller()
    work = Path(tempfile.mkdtemp(prefix="stratus-bench-data-", dir=ctl.config_path.parent))
    cloud = Cloud(ctl.address)
    images = pb_grpc.ImageServiceStub(cloud.channel)
    tenant = cloud.tenant()
    md = tenant.metadata

    def new_image() -> str:
        return images.CreateImage(
            pb.CreateImageRequest(
                image=pb.Image(
                    name="bench",
                    disk_format=pb.DISK_FORMAT_RAW,
                    container_format=pb.CONTAINER_FORMAT_BARE,
                )
            ),
            metadata=md,
        ).id

    try:
        source = work / "source.raw"
        make_file(source, size)
        baseline = size / MIB / cp_sync(source, work / "copy.raw")

        image_id = new_image()
        start = time.perf_counter()
        image = images.UploadImageData(file_messages(image_id, source, chunk), metadata=md)
        up = size / MIB / (time.perf_counter() - start)
        assert image.size == size

        start, received = time.perf_counter(), 0
        for message in images.DownloadImageData(
            pb.DownloadImageDataRequest(image_id=image_id), metadata=md
        ):
            received += len(message.data)
        down = size / MIB / (time.perf_counter() - start)
        assert received == size
        images.DeleteImage(pb.DeleteImageRequest(id=image_id), metadata=md)
        source.unlink()

        image_id = new_image()
        with RssWatch(ctl.proc.pid) as rss:
            start = time.perf_counter()
            images.UploadImageData(block_messages(image_id, rss_size, chunk), metadata=md)
            rss_rate = rss_size / MIB / (time.perf_counter() - start)
        images.DeleteImage(pb.DeleteImageRequest(id=image_id), metadata=md)

        print(
            f"image benchmark: controller {ctl.address}, file store on {work.parent}, "
            f"{chunk // 1024} KiB messages, {os.cpu_count()} CPUs"
        )
        print(f"{'cp + sync, ' + str(size // MIB) + ' MiB':<36} {baseline:8.1f} MiB/s")
        print(
            f"{'UploadImageData, ' + str(size // MIB) + ' MiB':<36} {up:8.1f} MiB/s"
            f"  ratio {up / baseline:5.2f}x of cp + sync (target >= 0.25x)"
        )
        print(
            f"{'DownloadImageData, ' + str(size // MIB) + ' MiB':<36} {down:8.1f} MiB/s"
            f"  ratio {down / baseline:5.2f}x of cp + sync (target >= 0.30x)"
        )
        label = f"controller RSS, {rss_size // MIB} MiB upload"
        print(
            f"{label:<36} peak {rss.peak / MIB:6.1f} MiB"
            f"  (samples {min(rss.samples) / MIB:.1f}-{max(rss.samples) / MIB:.1f} MiB;"
            " target < 150)"
            f"  at {rss_rate:.1f} MiB/s"
        )
    except BaseException:
        print(ctl.log_path.read_text()[-4000:])
        raise
    finally:
        cloud.close()
        ctl.terminate()
        subprocess.run(["rm", "-rf", str(ctl.config_path.parent.parent)], check=False)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=1024, help="upload/download size")
    parser.add_argument(
        "--rss-size-mib", type=int, default=4096, help="size of the upload watched for RSS"
    )
    parser.add_argument(
        "--chunk-kib", type=int, default=1024, help="size of each gRPC message's data"
    )
    args = parser.parse_args()
    run(args.size_mib * MIB, args.rss_size_mib * MIB, args.chunk_kib * 1024)


if __name__ == "__main__":
    main()
