"""Image benchmark: streamed upload and download over real gRPC, beside a real Glance and the
machine's own limits, all in the same run.

Runs a real controller process (SQLite, file store under a temporary directory) and a real
Glance (bench/glance_anchor.py: installed once into its own venv, gunicorn with 2 workers, the
file store on the same disk, default hashing), and drives both from this process over
loopback, alternating, --rounds times; medians are printed:
  python -m bench.image_bench [--size-mib 1024] [--rss-size-mib 4096] [--chunk-kib 1024]
                              [--rounds 3] [--no-glance] [--direct-io]
For each direction: MiB/s and server CPU seconds per GiB, Stratus's ratio to Glance and to
the gRPC limit (bench/bare_image_server.py: a bare grpc.aio server moving the same bytes from
and to memory in the same messages, to the same client, with the controller's listener
options), and the physical limits on the same file: `md5sum` and `sha512sum` run side by side
(what computing both digests, as Glance and Stratus do, allows an upload at best), the
loopback TCP limit (bench/sendfile_server.py: the file sent by sendfile(2) to the client that
reads Glance), `cat FILE > /dev/null` from the page cache, and `cp` + `sync`. Each side's
client CPU is measured too: with the server's, what two cores allow at that CPU per byte.
Then the controller's peak RSS while it receives, and while it sends, an image of
--rss-size-mib. --direct-io runs the controller's file store with `direct_io = true`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import DEVNULL

import grpc

from bench.common import cpu_seconds, start_anchor, start_controller
from bench.glance_anchor import Glance, http_download
from stratus.image.v1 import image_service_pb2 as pb
from stratus.image.v1 import image_service_pb2_grpc as pb_grpc
from tests.support.cloud import Cloud

MIB = 1024 * 1024
GIB = 1024 * MIB


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


def timed(*commands: list[str]) -> float:
    """Seconds for the commands, run side by side, to have all ended."""
    start = time.perf_counter()
    running = [subprocess.Popen(command, stdout=DEVNULL) for command in commands]
    for proc, command in zip(running, commands, strict=True):
        if proc.wait() != 0:
            raise subprocess.CalledProcessError(proc.returncode, command)
    return time.perf_counter() - start


@dataclass
class Transfer:
    """Medians of one side's rounds: MiB/s, and its server's and its client's CPU seconds per
    GiB moved."""

    rates: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    client_cpus: list[float] = field(default_factory=list)

    def add(self, size: int, seconds: float, cpu: float, client_cpu: float) -> None:
        self.rates.append(size / MIB / seconds)
        self.cpus.append(cpu / (size / GIB))
        self.client_cpus.append(client_cpu / (size / GIB))

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpus)

    @property
    def cpu_bound(self) -> float:
        """MiB/s that this machine's cores allow at this server and client CPU per byte."""
        return (os.cpu_count() or 1) * GIB / MIB / (self.cpu + statistics.median(self.client_cpus))


def measure(result: Transfer, size: int, pids: list[int], move, *args) -> None:
    """Moves `size` bytes with `move`, timed, with the CPU of the servers `pids` and of this
    process (the client, all its threads)."""
    cpu, client_cpu = sum(cpu_seconds(pid) for pid in pids), cpu_seconds(os.getpid())
    start = time.perf_counter()
    move(*args)
    seconds = time.perf_counter() - start
    result.add(
        size,
        seconds,
        sum(cpu_seconds(pid) for pid in pids) - cpu,
        cpu_seconds(os.getpid()) - client_cpu,
    )


def run(
    size: int, rss_size: int, chunk: int, rounds: int, with_glance: bool, direct_io: bool
) -> None:
    ctl = start_controller("[image]\nstore = { direct_io = true }\n" if direct_io else "")
    bare, bare_port = start_anchor("bench.bare_image_server", f"--size={size}", f"--chunk={chunk}")
    bare_channel = grpc.insecure_channel(f"127.0.0.1:{bare_port}")
    bare_images = pb_grpc.ImageServiceStub(bare_channel)
    work = Path(tempfile.mkdtemp(prefix="stratus-bench-data-", dir=ctl.config_path.parent))
    glance = Glance(work / "glance") if with_glance else None
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

    def stratus_upload(image_id: str) -> None:
        images.UploadImageData(file_messages(image_id, source, chunk), metadata=md)

    def bare_upload() -> None:
        bare_images.UploadImageData(file_messages(str(uuid.uuid4()), source, chunk))

    def bare_download() -> None:
        received = 0
        for message in bare_images.DownloadImageData(pb.DownloadImageDataRequest()):
            received += len(message.data)
        assert received == size

    def glance_download(image_id: str) -> None:
        assert glance is not None
        assert glance.download(image_id, chunk) == size

    def stratus_download(image_id: str) -> None:
        received = 0
        for message in images.DownloadImageData(
            pb.DownloadImageDataRequest(image_id=image_id), metadata=md
        ):
            received += len(message.data)
        assert received == size

    up, down = Transfer(), Transfer()
    glance_up, glance_down = Transfer(), Transfer()
    bare_up, bare_down = Transfer(), Transfer()
    tcp_down = Transfer()
    digests = "md5sum + sha512sum"
    limits: dict[str, list[float]] = {
        digests: [],
        "sha512sum": [],
        "cat > /dev/null": [],
        "cp + sync": [],
    }
    source = work / "source.raw"
    sendfile = None
    try:
        make_file(source, size)
        sendfile, sendfile_port = start_anchor("bench.sendfile_server", str(source))
        for _ in range(rounds):
            limits[digests].append(timed(["md5sum", str(source)], ["sha512sum", str(source)]))
            limits["sha512sum"].append(timed(["sha512sum", str(source)]))
            limits["cat > /dev/null"].append(timed(["cat", str(source)]))
            limits["cp + sync"].append(cp_sync(source, work / "copy.raw"))
            measure(tcp_down, size, [sendfile.pid], http_download, sendfile_port, "/", chunk)

            image_id = new_image()
            measure(
                up,
                size,
                [ctl.proc.pid],
                stratus_upload,
                image_id,
            )
            measure(down, size, [ctl.proc.pid], stratus_download, image_id)
            images.DeleteImage(pb.DeleteImageRequest(id=image_id), metadata=md)

            measure(bare_up, size, [bare.pid], bare_upload)
            measure(bare_down, size, [bare.pid], bare_download)

            if glance is not None:
                glance_id = glance.create_image()
                measure(glance_up, size, glance.pids, glance.upload, glance_id, source, chunk)
                measure(glance_down, size, glance.pids, glance_download, glance_id)
                glance.delete_image(glance_id)
        source.unlink()

        image_id = new_image()
        with RssWatch(ctl.proc.pid) as rss_up:
            images.UploadImageData(block_messages(image_id, rss_size, chunk), metadata=md)
        with RssWatch(ctl.proc.pid) as rss_down:
            for _ in images.DownloadImageData(
                pb.DownloadImageDataRequest(image_id=image_id), metadata=md
            ):
                pass
        images.DeleteImage(pb.DeleteImageRequest(id=image_id), metadata=md)

        print(
            f"image benchmark: {size // MIB} MiB, {rounds} rounds (medians), controller "
            f"{ctl.address}, file store on {work.parent} (direct_io {direct_io}), "
            f"{chunk // 1024} KiB messages, "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
        )
        rate = {name: size / MIB / statistics.median(t) for name, t in limits.items()}
        rate["loopback TCP"] = tcp_down.rate
        for name, value in rate.items():
            print(f"  {'limit: ' + name:<34} {value:8.1f} MiB/s")
        print(
            "    (md5sum and sha512sum side by side: what both digests allow an upload;"
            " loopback TCP: the file by sendfile(2) to Glance's client, what any download"
            " server allows)"
        )
        for label, ours, theirs, grpc_limit, limit, target in (
            ("UploadImageData", up, glance_up, bare_up, digests, 3.0),
            ("DownloadImageData", down, glance_down, bare_down, "loopback TCP", 1.5),
        ):
            print(
                f"  {'gRPC limit, ' + label:<34} {grpc_limit.rate:8.1f} MiB/s"
                f"  {grpc_limit.cpu:5.2f} CPU s/GiB (bare grpc.aio server, from/to memory)"
            )
            line = f"  {label:<34} {ours.rate:8.1f} MiB/s  {ours.cpu:5.2f} CPU s/GiB"
            line += f"  {ours.rate / grpc_limit.rate:4.2f}x of the gRPC limit"
            if theirs.rates:
                line += (
                    f"  Glance {theirs.rate:6.1f} MiB/s {theirs.cpu:5.2f} CPU s/GiB:"
                    f" {ours.rate / theirs.rate:4.2f}x Glance (target >= {target}x),"
                    f" CPU {theirs.cpu / ours.cpu:4.2f}x less"
                )
            line += (
                f"; {ours.rate / rate[limit]:4.2f}x of {limit},"
                f" {ours.rate / rate['cp + sync']:4.2f}x of cp + sync"
            )
            print(line)
            for name, side in (("Stratus", ours), ("Glance", theirs)):
                if side.rates:
                    print(
                        f"    {name}: server + client {side.cpu:4.2f} +"
                        f" {statistics.median(side.client_cpus):4.2f} CPU s/GiB, at which"
                        f" {os.cpu_count()} cores allow {side.cpu_bound:7.1f} MiB/s"
                        f" ({side.rate / side.cpu_bound:4.2f}x of it);"
                        f" {side.rate / rate[limit]:4.2f}x of {limit}"
                    )
        for label, rss in (("upload", rss_up), ("download", rss_down)):
            print(
                f"  {'controller RSS, ' + str(rss_size // MIB) + ' MiB ' + label:<34}"
                f" peak {rss.peak / MIB:6.1f} MiB"
                f"  (samples {min(rss.samples, default=0) / MIB:.1f}-"
                f"{max(rss.samples, default=0) / MIB:.1f} MiB; target < 150)"
            )
    except BaseException:
        print(ctl.log_path.read_text()[-4000:])
        raise
    finally:
        cloud.close()
        bare_channel.close()
        bare.terminate()
        bare.wait()
        if glance is not None:
            glance.stop()
        if sendfile is not None:
            sendfile.terminate()
            sendfile.wait()
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
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds, medians kept")
    parser.add_argument(
        "--no-glance", action="store_true", help="leave out the Glance anchor (no install)"
    )
    parser.add_argument(
        "--direct-io",
        action="store_true",
        help="the controller's file store writes past the page cache ([image] store.direct_io)",
    )
    args = parser.parse_args()
    run(
        args.size_mib * MIB,
        args.rss_size_mib * MIB,
        args.chunk_kib * 1024,
        args.rounds,
        not args.no_glance,
        args.direct_io,
    )


if __name__ == "__main__":
    main()
