"""Large buffers reach their file whole, written in slices: a regular file, and a pipe whose
reader takes less than a slice at a time."""

import os
import threading

from stratus_common.files import WRITE_SLICE_BYTES, write_all

DATA = os.urandom(3 * WRITE_SLICE_BYTES + 12345)


def test_a_buffer_larger_than_a_slice_reaches_the_file_whole(tmp_path):
    path = tmp_path / "data"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        write_all(fd, DATA)
        write_all(fd, memoryview(DATA)[:10])
    finally:
        os.close(fd)
    assert path.read_bytes() == DATA + DATA[:10]


def test_a_pipe_read_in_small_pieces_receives_every_byte():
    read_fd, write_fd = os.pipe()
    received = bytearray()

    def drain():
        while chunk := os.read(read_fd, 7000):  # less than a slice, less than the pipe
            received.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        write_all(write_fd, bytearray(DATA))
    finally:
        os.close(write_fd)
        reader.join(timeout=60)
        os.close(read_fd)
    assert bytes(received) == DATA
