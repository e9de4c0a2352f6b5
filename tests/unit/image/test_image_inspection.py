"""Streaming format inspection: every accepted format, every refusal, on crafted images.

Each image is fed in several chunk sizes: the verdict must not depend on how a client cuts
its stream (1-byte messages included).
"""

import contextlib
import struct
import tracemalloc

import pytest

from stratus_common.errors import InvalidArgument
from stratus_common.image_inspection import DISK_FORMATS, HEAD_BYTES, ImageInspector

CHUNKS = [7, 511, 65536, 4 << 20]


def inspect(data: bytes, disk_format: str, chunk: int = 65536):
    inspector = ImageInspector(disk_format)
    for start in range(0, len(data), chunk):
        inspector.feed(data[start : start + chunk])
    return inspector.finish()


def refused(data: bytes, disk_format: str, chunk: int = 65536) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as info:
        inspect(data, disk_format, chunk)
    return info.value


# --- accepted ------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize(
    "fmt, options, virtual",
    [
        ("qcow2", (), 10 << 20),
        ("qcow2", ("-o", "compat=0.10"), 10 << 20),  # qcow2 version 2
        ("vmdk", (), 10 << 20),
        ("vmdk", ("-o", "subformat=streamOptimized"), 10 << 20),
        ("vhdx", (), 10 << 20),
        ("vdi", (), 10 << 20),
    ],
)
def test_qemu_made_images_are_accepted_with_virtual_size(made, fmt, options, virtual, chunk):
    data = made(fmt, f"x.{fmt}", "10M", *options)
    result = inspect(data, fmt, chunk)
    assert (result.format, result.virtual_size, result.size) == (fmt, virtual, len(data))


@pytest.mark.parametrize("subformat", ["dynamic", "fixed"])
def test_vhd_dynamic_and_fixed_are_accepted(made, subformat):
    data = made("vpc", "x.vhd", "10M", "-o", f"subformat={subformat}")
    result = inspect(data, "vhd", 65536)
    assert result.format == "vhd"
    assert 10 << 20 <= result.virtual_size < 11 << 20  # qemu rounds to CHS geometry


def test_fixed_vhd_footer_with_bad_checksum_is_not_vhd(made):
    data = bytearray(made("vpc", "x.vhd", "1M", "-o", "subformat=fixed"))
    data[-512 + 64] ^= 0xFF
    assert refused(bytes(data), "vhd").reason == "IMAGE_FORMAT_MISMATCH"


@pytest.mark.parametrize("fmt", ["raw", "ami", "aki", "ari"])
@pytest.mark.parametrize("chunk", CHUNKS)
def test_raw_like_content_is_accepted_with_stream_size(fmt, chunk):
    data = bytes(range(256)) * 4099
    result = inspect(data, fmt, chunk)
    assert (result.format, result.virtual_size) == ("raw", len(data))


def test_empty_raw_image_is_accepted():
    assert inspect(b"", "raw").virtual_size == 0


def test_whole_disk_raw_with_partition_table_is_accepted(crafted):
    data = crafted.mbr() + bytes(1 << 20)
    assert inspect(data, "raw").format == "gpt"


def test_partition_table_failing_oslo_checks_does_not_refuse_raw(crafted):
    data = crafted.mbr(boot_flag=0x33) + bytes(1 << 20)
    assert inspect(data, "raw").format == "gpt"


@pytest.mark.parametrize("chunk", CHUNKS)
def test_iso_is_accepted_with_volume_size(crafted, chunk):
    result = inspect(crafted.iso(blocks=24), "iso", chunk)
    assert (result.format, result.virtual_size) == ("iso", 24 * 2048)


def test_hybrid_iso_with_mbr_is_accepted_as_iso(crafted):
    data = crafted.iso(blocks=24, system_area=crafted.mbr())
    assert inspect(data, "iso").format == "iso"


# --- content that is not what it claims -----------------------------------------------------


@pytest.mark.parametrize("chunk", CHUNKS)
def test_qcow2_uploaded_as_raw_is_refused(made, chunk):
    error = refused(made("qcow2", "x.qcow2"), "raw", chunk)
    assert (error.reason, error.violations[0].field) == ("IMAGE_FORMAT_MISMATCH", "disk_format")
    assert error.metadata == {"declared": "raw", "detected": "qcow2"}


@pytest.mark.parametrize("declared", ["qcow2", "vmdk", "vhd", "vhdx", "vdi", "iso"])
def test_raw_content_under_a_structured_format_is_refused(declared):
    error = refused(bytes(3 << 20), declared)
    assert error.reason == "IMAGE_FORMAT_MISMATCH"


def test_short_stream_declared_qcow2_is_refused():
    assert refused(b"QFI\xfb", "qcow2").reason == "IMAGE_FORMAT_MISMATCH"


def test_vmdk_content_declared_qcow2_is_refused(made):
    error = refused(made("vmdk", "x.vmdk"), "qcow2")
    assert error.reason == "IMAGE_FORMAT_MISMATCH"


def test_iso_uploaded_as_raw_is_refused(crafted):
    """A raw/ISO polyglot: zeros, then a volume descriptor at 32 KiB."""
    error = refused(crafted.iso(blocks=24), "raw")
    assert error.metadata == {"declared": "raw", "detected": "iso"}


def test_partition_table_alone_is_not_an_iso(crafted):
    data = crafted.mbr() + bytes(64 * 1024)
    assert refused(data, "iso").reason == "IMAGE_FORMAT_MISMATCH"


def test_luks_uploaded_as_raw_is_refused(crafted):
    error = refused(crafted.luks1_header() + bytes(1 << 20), "raw")
    assert error.metadata["detected"] == "luks"


def test_unknown_disk_format_is_refused():
    with pytest.raises(InvalidArgument) as info:
        ImageInspector("qed")
    assert (info.value.reason, info.value.violations[0].field) == (
        "UNSUPPORTED_DISK_FORMAT",
        "disk_format",
    )


# --- dangerous content -----------------------------------------------------------------------


def unsafe(data: bytes, declared: str, chunk: int = 65536) -> set[str]:
    error = refused(data, declared, chunk)
    assert (error.reason, error.violations[0].field) == ("IMAGE_UNSAFE", "data")
    return set(error.metadata["checks"].split(","))


@pytest.mark.parametrize("chunk", CHUNKS)
def test_qcow2_with_backing_file_is_refused(tmp_path, made, chunk):
    (tmp_path / "base.raw").write_bytes(bytes(1 << 20))
    data = made("qcow2", "x.qcow2", "1M", "-b", "base.raw", "-F", "raw")
    assert unsafe(data, "qcow2", chunk) == {"backing_file"}


def test_qcow2_with_backing_file_is_refused_whatever_it_claims(tmp_path, made):
    (tmp_path / "base.raw").write_bytes(bytes(1 << 20))
    data = made("qcow2", "x.qcow2", "1M", "-b", "base.raw", "-F", "raw")
    assert unsafe(data, "raw") == {"backing_file"}


@pytest.mark.parametrize("chunk", CHUNKS)
def test_qcow2_with_external_data_file_is_refused(made, chunk):
    data = made("qcow2", "x.qcow2", "1M", "-o", "data_file=x.data,data_file_raw=on")
    assert unsafe(data, "qcow2", chunk) == {"data_file"}


def test_qcow2_with_unknown_incompatible_feature_is_refused(made):
    data = bytearray(made("qcow2", "x.qcow2"))
    data[0x48 + 7] |= 0x20  # incompatible feature bit 5: unknown to everyone
    assert unsafe(bytes(data), "qcow2") == {"unknown_features"}


def test_qcow_version_1_is_refused():
    header = struct.pack(">4sIQIIQ", b"QFI\xfb", 1, 0, 0, 12, 1 << 20).ljust(1 << 16, b"\0")
    assert unsafe(header, "qcow2") == {"unknown_features"}


@pytest.mark.parametrize("chunk", CHUNKS)
def test_qed_is_refused(chunk):
    data = b"QED\x00" + bytes(1 << 20)
    assert unsafe(data, "raw", chunk) == {"banned"}


def test_qemu_made_qed_is_refused(made):
    assert unsafe(made("qed", "x.qed"), "raw") == {"banned"}


@pytest.mark.parametrize("create_type", ["twoGbMaxExtentSparse", "monolithicFlat", "vmfs"])
def test_vmdk_of_another_subformat_is_refused(crafted, create_type):
    data = crafted.vmdk_sparse(crafted.vmdk_descriptor(create_type))
    assert "descriptor" in unsafe(data, "vmdk")


def test_vmdk_whose_descriptor_names_other_files_is_refused(crafted):
    desc = crafted.vmdk_descriptor(
        extents=('RW 1024 SPARSE "disk.vmdk"', 'RW 1024 SPARSE "other.vmdk"')
    )
    assert unsafe(crafted.vmdk_sparse(desc), "vmdk") == {"extents"}


def test_vmdk_whose_extent_is_a_path_is_refused(crafted):
    desc = crafted.vmdk_descriptor(extents=('RW 2048 SPARSE "/etc/shadow"',))
    assert "descriptor" in unsafe(crafted.vmdk_sparse(desc), "vmdk")


def test_vmdk_with_parent_is_refused(tmp_path, made):
    made("vmdk", "base.vmdk")
    data = made("vmdk", "child.vmdk", "1M", "-b", "base.vmdk", "-F", "vmdk")
    assert unsafe(data, "vmdk") == {"parent"}


@pytest.mark.parametrize("chunk", [*CHUNKS, 1])
@pytest.mark.parametrize("declared", ["vmdk", "raw"])
def test_descriptor_only_vmdk_is_refused(made, tmp_path, declared, chunk):
    """The CVE-2024-32498 shape: a text descriptor pointing qemu at another file."""
    made("vmdk", "flat.vmdk", "1M", "-o", "subformat=monolithicFlat")
    data = (tmp_path / "flat.vmdk").read_bytes()
    assert unsafe(data, declared, chunk) & {"descriptor", "descriptor_only"}


def test_descriptor_only_vmdk_of_an_allowed_subformat_is_refused(crafted):
    text = crafted.vmdk_descriptor(extents=('RW 2048 SPARSE "elsewhere.vmdk"',)).encode()
    assert unsafe(text, "vmdk") == {"descriptor_only"}


@pytest.mark.parametrize("chunk", CHUNKS)
def test_stream_optimized_vmdk_with_footer_is_accepted(crafted, chunk):
    data = crafted.vmdk_sparse(crafted.vmdk_descriptor("streamOptimized"), footer=True)
    assert inspect(data, "vmdk", chunk).virtual_size == 2048 * 512


@pytest.mark.parametrize(
    "offset, value",
    [
        (-512 + 12, 0x7),  # end-of-stream marker of the wrong type
        (-1024 + 56, 0xFF),  # footer's grain directory "at end" again
        (-1536 + 12, 0x1),  # footer marker of the wrong type
    ],
)
def test_stream_optimized_vmdk_with_bad_footer_is_refused(crafted, offset, value):
    data = bytearray(crafted.vmdk_sparse(crafted.vmdk_descriptor("streamOptimized"), footer=True))
    data[offset : offset + (8 if value == 0xFF else 1)] = bytes([value]) * (
        8 if value == 0xFF else 1
    )
    assert unsafe(bytes(data), "vmdk") == {"footer"}


# --- polyglots ---------------------------------------------------------------------------------


def test_qcow2_iso_polyglot_is_refused_as_ambiguous(made, crafted):
    data = bytearray(made("qcow2", "x.qcow2"))
    data[32768:34816] = crafted.iso_pvd(24)  # unused space of the first qcow2 cluster
    error = refused(bytes(data), "qcow2")
    assert (error.reason, error.metadata["formats"]) == ("IMAGE_FORMAT_AMBIGUOUS", "iso,qcow2")


def test_qcow2_iso_polyglot_declared_iso_is_refused(made, crafted):
    data = bytearray(made("qcow2", "x.qcow2"))
    data[32768:34816] = crafted.iso_pvd(24)
    assert refused(bytes(data), "iso").reason == "IMAGE_FORMAT_MISMATCH"


def test_vdi_mbr_polyglot_is_refused(made, crafted):
    data = bytearray(made("vdi", "x.vdi"))
    data[510:512] = b"\x55\xaa"
    data[446:462] = crafted.mbr()[446:462]
    assert refused(bytes(data), "vdi").reason == "IMAGE_FORMAT_AMBIGUOUS"


# --- streaming ---------------------------------------------------------------------------------


def test_refusal_comes_before_the_stream_ends(tmp_path, made):
    """A hostile header is refused as soon as the first MiB is in: no need to take it all."""
    (tmp_path / "base.raw").write_bytes(bytes(1 << 20))
    header = made("qcow2", "x.qcow2", "1M", "-b", "base.raw", "-F", "raw")
    inspector = ImageInspector("qcow2")
    inspector.feed(header)
    with pytest.raises(InvalidArgument):  # noqa: PT012 - refused at whichever feed sees enough
        for _ in range(HEAD_BYTES // 65536 + 1):
            inspector.feed(bytes(65536))


@pytest.mark.parametrize(
    "declared, head",
    [
        ("raw", b""),
        ("qcow2", b"qcow2"),
        ("vmdk", b"vmdk-stream"),
    ],
)
def test_memory_stays_bounded_over_gibibytes(made, declared, head):
    first = {
        b"": b"",
        b"qcow2": made("qcow2", "x.qcow2", "8G"),
        b"vmdk-stream": made("vmdk", "x.vmdk", "8G", "-o", "subformat=streamOptimized"),
    }[head]
    chunk = bytes(1 << 20)
    inspector = ImageInspector(declared)
    tracemalloc.start()
    try:
        inspector.feed(first)
        held = 0
        for _ in range(2048):  # 2 GiB
            inspector.feed(chunk)
            held = max(held, inspector.held_bytes)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held <= HEAD_BYTES + (1 << 20)
    assert peak < 8 << 20


@pytest.mark.parametrize("fmt", DISK_FORMATS)
def test_finish_twice_is_a_programming_error(fmt):
    inspector = ImageInspector(fmt)
    with contextlib.suppress(InvalidArgument):
        inspector.finish()
    with pytest.raises(RuntimeError):
        inspector.finish()
