"""Streaming disk-image format inspection: what the bytes really are, and whether they are safe.

Built on oslo.utils' format inspectors (maintained by OpenStack's security team), driven
chunk by chunk as the upload flows: no second pass, no copy of the image. Memory is bounded
whatever the image size: the first MiB (gathered so the VMDK inspector sees its whole
descriptor window at once), then at most 64 KiB pending, plus the header regions the
inspectors keep (all under 1 MiB: VMDK descriptor, VHDX tables, ISO system area, a 1.5 KiB
VMDK footer window). A refusal is raised as soon as it is certain, usually once the first
MiB is in, so a hostile upload is stopped long before it ends.

Refused (stratus_common.errors.InvalidArgument):
- IMAGE_FORMAT_MISMATCH (field disk_format): the content is not the declared format;
- IMAGE_UNSAFE (field data): qcow2 with a backing file, an external data file or unknown
  incompatible features (or qcow version 1); QED; VMDK other than monolithicSparse/
  streamOptimized, a descriptor-only VMDK, a descriptor naming other files or a parent, a
  bad streamOptimized footer; any other failed oslo safety check;
- IMAGE_FORMAT_AMBIGUOUS (field data): the content matches several formats (a polyglot).

Glance disk formats: raw, ami, aki and ari are raw-like: nothing recognisable may be inside,
except a partition table (oslo calls it "gpt", for a plain MBR too): a whole-disk raw image.
iso must be ISO 9660/UDF; a bootable "hybrid" ISO, which also carries an MBR/GPT to boot
from a USB stick, is the one multi-format match allowed. vhd is dynamic (header at the
start, oslo) or fixed (footer at the end only, checked here). Every other format must be
detected as itself. A failed partition-table check (oslo's MBR sanity) is only logged, as
Glance's gpt_safety_checks_nonfatal does: such tables are only ever read as raw data, so
they never steer the hypervisor, and oslo's MBR checks have false positives.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass

from oslo_utils.imageutils import format_inspector as fi

from stratus_common.errors import InvalidArgument

LOG = logging.getLogger(__name__)

DISK_FORMATS = ("raw", "qcow2", "vmdk", "vhd", "vhdx", "vdi", "iso", "ami", "aki", "ari")
RAW_LIKE = frozenset({"raw", "ami", "aki", "ari"})
_HYBRID_ISO = frozenset({"iso", "gpt"})
# Matches that do not refuse an upload at once: "gpt" may turn out to be a whole-disk raw
# image, one half of a hybrid ISO, or the data inside a fixed VHD. `finish` decides.
_TOLERATED = {fmt: frozenset({fmt, "gpt"}) for fmt in DISK_FORMATS}
_SAFE_VMDK_TYPES = ("monolithicsparse", "streamoptimized")
_VMDK_EXTENT_ACCESS = ("rw", "rdonly", "noaccess")

# oslo's inspectors see the same bytes differently depending on how they are cut, so the
# cutting is ours, not the client's. The VMDK inspector must get the stream's first MiB
# (its descriptor limit) in one piece, or it judges a text descriptor by its first few bytes;
# the others need pieces of at most 64 KiB, or the VHDX inspector can miss a metadata item
# that lies in the same chunk as the table pointing at it.
HEAD_BYTES = fi.VMDKInspector.DESC_MAX_SIZE + 1
PIECE_BYTES = 64 * 1024
_VHD_FOOTER = 512


@dataclass(frozen=True)
class Inspection:
    format: str  # what the content is, in oslo's names ("raw", "qcow2", "gpt", ...)
    virtual_size: int  # bytes the guest sees; for raw-like content, the stream size
    size: int  # bytes inspected


class ImageInspector:
    """Feed it every chunk with `feed`, then call `finish`; either may refuse the image."""

    def __init__(self, disk_format: str):
        if disk_format not in DISK_FORMATS:
            raise InvalidArgument(
                "disk_format",
                f"must be one of {', '.join(DISK_FORMATS)}",
                reason="UNSUPPORTED_DISK_FORMAT",
            )
        self.disk_format = disk_format
        # The declared format's own inspector: once it gives up, the upload is refused
        # (a VHD may still be a fixed one, told by its footer at the end).
        self._expected = None if disk_format in RAW_LIKE | {"vhd"} else disk_format
        self._live = [cls() for name, cls in fi.ALL_FORMATS.items() if name != "raw"]
        self._matched: dict[str, fi.FileInspector] = {}
        self._pending = bytearray()  # bytes not inspected yet
        self._first = True  # the first MiB has not been inspected yet
        self._tail = b""  # last 512 bytes, for a fixed VHD's footer
        self._size = 0
        self._finished = False

    @property
    def held_bytes(self) -> int:
        """Bytes held in memory (bounded whatever the stream size; for tests and debugging)."""
        regions = sum(sum(i.context_info.values()) for i in self._live)
        return regions + len(self._pending) + len(self._tail)

    def feed(self, chunk: bytes) -> None:
        if self._finished:
            raise RuntimeError("inspection already finished")
        self._size += len(chunk)
        if self.disk_format == "vhd":
            self._tail = (self._tail + bytes(chunk[-_VHD_FOOTER:]))[-_VHD_FOOTER:]
        # Tiny messages are gathered first, so a client cannot make inspection costly.
        if not self._first and not self._pending and len(chunk) >= PIECE_BYTES:
            self._inspect(chunk)
            return
        self._pending += chunk
        if len(self._pending) >= (HEAD_BYTES if self._first else PIECE_BYTES):
            self._flush()

    def finish(self) -> Inspection:
        if self._finished:
            raise RuntimeError("inspection already finished")
        self._finished = True
        self._flush()
        for inspector in self._live:
            inspector.finish()
        self._settle(finished=True)
        names = frozenset(self._matched)
        detected = "iso" if names == _HYBRID_ISO else next(iter(names), "raw")
        if detected in ("raw", "gpt"):
            virtual_size = self._size
            if self.disk_format == "vhd" and _is_fixed_vhd(self._tail, self._size):
                detected, virtual_size = "vhd", self._size - _VHD_FOOTER
        else:
            virtual_size = self._matched[detected].virtual_size
            if detected == "iso" and not virtual_size:  # no primary volume descriptor
                virtual_size = self._size
        if not _accepts(self.disk_format, detected):
            self._mismatch(detected)
        return Inspection(format=detected, virtual_size=virtual_size, size=self._size)

    # -- internals -----------------------------------------------------------------------
    def _flush(self) -> None:
        if self._pending:
            data, self._pending = bytes(self._pending), bytearray()
            self._inspect(data, whole_for=fi.VMDKInspector if self._first else None)
            self._first = False

    def _inspect(self, data: bytes, whole_for: type | None = None) -> None:
        view = memoryview(data)
        for inspector in list(self._live):
            try:
                if isinstance(inspector, whole_for or ()):
                    inspector.eat_chunk(view)
                else:
                    for start in range(0, len(view), PIECE_BYTES):
                        inspector.eat_chunk(view[start : start + PIECE_BYTES])
            except Exception as exc:  # noqa: BLE001 - any parse failure means "not this format"
                self._drop(inspector, f"{exc.__class__.__name__}: {exc}")
        self._settle(finished=False)

    def _settle(self, finished: bool) -> None:
        """Decide every inspector that has seen enough: refuse early where certain."""
        for inspector in list(self._live):
            if not inspector.complete:
                if finished:  # the stream ended before this format was recognisable
                    self._drop(inspector, "incomplete at end of stream")
                continue
            name = inspector.NAME
            if not inspector.format_match:
                self._drop(inspector, "no match")
            elif name not in self._matched:
                self._matched[name] = inspector
                self._check_safety(inspector)
                self._check_ambiguity()
                if name not in _TOLERATED[self.disk_format]:
                    self._mismatch(name)

    def _check_ambiguity(self) -> None:
        names = frozenset(self._matched)
        if len(names) > 1 and not (self.disk_format == "iso" and names == _HYBRID_ISO):
            raise InvalidArgument(
                "data",
                "content matches several disk formats",
                reason="IMAGE_FORMAT_AMBIGUOUS",
                formats=",".join(sorted(names)),
            )

    def _drop(self, inspector: fi.FileInspector, why: str) -> None:
        self._live.remove(inspector)
        if self._expected == inspector.NAME:
            LOG.info("content is not %s: %s", self._expected, why)
            self._mismatch(next(iter(self._matched), None))

    def _mismatch(self, detected: str | None):
        meta = {"declared": self.disk_format}
        if detected:
            meta["detected"] = detected
        raise InvalidArgument(
            "disk_format",
            f"image content is not {self.disk_format}",
            reason="IMAGE_FORMAT_MISMATCH",
            **meta,
        )

    def _check_safety(self, inspector: fi.FileInspector) -> None:
        try:
            inspector.safety_check()
            if inspector.NAME == "vmdk":
                _check_vmdk_descriptor(inspector)
        except fi.SafetyCheckFailed as exc:
            checks = ",".join(sorted(exc.failures))
            if inspector.NAME == "gpt":
                # Only ever read as raw (whole disk, hybrid ISO, fixed VHD data), so the
                # table never steers the hypervisor; oslo's MBR checks have false positives.
                LOG.warning("partition table failed checks, ignored: %s", checks)
                return
            raise InvalidArgument(
                "data",
                f"{inspector.NAME} image failed safety checks",
                reason="IMAGE_UNSAFE",
                format=inspector.NAME,
                checks=checks,
            ) from None
        except fi.ImageFormatError:
            raise InvalidArgument(
                "data",
                f"{inspector.NAME} image cannot be checked",
                reason="IMAGE_UNSAFE",
                format=inspector.NAME,
            ) from None


def _accepts(disk_format: str, detected: str) -> bool:
    if disk_format in RAW_LIKE:
        return detected in ("raw", "gpt")
    return detected == disk_format


def _check_vmdk_descriptor(inspector: fi.FileInspector) -> None:
    """What oslo leaves to the caller: a VMDK must be one self-contained file.

    A descriptor-only VMDK (no sparse header) holds no data and always points elsewhere; a
    sparse VMDK's descriptor must list exactly one extent (the file itself) and no parent,
    which qemu would otherwise open as a backing file (parentFileNameHint).
    """

    def fail(check: str):
        raise fi.SafetyCheckFailed({check: fi.SafetyViolation(check)})

    if not inspector.has_region("header"):
        fail("descriptor_only")
    text = inspector.desc_text or ""
    lines = [line.strip() for line in text.split("\n")]
    extents = [line for line in lines if line.split(" ")[0] in _VMDK_EXTENT_ACCESS]
    if len(extents) != 1:
        fail("extents")
    if any(line.startswith("parentfilenamehint") for line in lines):
        fail("parent")
    if inspector.vmdktype not in _SAFE_VMDK_TYPES:
        fail("subformat")


def _is_fixed_vhd(footer: bytes, size: int) -> bool:
    """A fixed VHD is raw data plus a 512-byte footer at the end (oslo looks only at the
    start, where a dynamic VHD keeps a copy of it)."""
    if len(footer) != _VHD_FOOTER or not footer.startswith(b"conectix"):
        return False
    (current_size,) = struct.unpack(">Q", footer[48:56])
    (disk_type, checksum) = struct.unpack(">II", footer[60:68])
    computed = ~(sum(footer[:64]) + sum(footer[68:])) & 0xFFFFFFFF
    return disk_type == 2 and checksum == computed and current_size == size - _VHD_FOOTER
