"""Streaming disk-image format inspection: what the bytes really are, and whether they are safe.

Built on oslo.utils' format inspectors (maintained by OpenStack's security team). Chunks are
fed as they arrive; each inspector keeps only the header regions it needs (at most ~1 MiB,
the VMDK descriptor limit, plus the 1.5 KiB VMDK footer window), so memory stays bounded
whatever the image size. A refusal is raised as soon as it is certain, often within the
first 512 bytes, so a hostile upload is stopped before it is stored.

Refused (controller.errors.InvalidArgument):
- IMAGE_FORMAT_MISMATCH (field disk_format): the content is not the declared format;
- IMAGE_UNSAFE (field data): qcow2 with a backing file, an external data file or unknown
  incompatible features; QED; LUKS; VMDK other than monolithicSparse/streamOptimized, a
  descriptor-only VMDK, or a descriptor naming other files or a parent; any other failed
  oslo safety check;
- IMAGE_FORMAT_AMBIGUOUS (field data): the content matches several formats (a polyglot).

Mapping of Glance disk formats: raw, ami, aki and ari are raw-like (nothing recognisable
inside; a partition table, which oslo calls "gpt" and also reports for a plain MBR, is
allowed: such images are whole-disk raw images). iso must be ISO 9660/UDF; a bootable
"hybrid" ISO, which also carries an MBR/GPT so it boots from a USB stick, is the one
multi-format match allowed. Every other format must be detected as itself. oslo's checks of
the partition table (MBR sanity) are only logged for raw-like images, as Glance does by
default: consumers read those images as raw, so the table never steers the hypervisor.
"""
from __future__ import annotations

import logging
import struct
from dataclasses import dataclass

from oslo_utils.imageutils import format_inspector as fi

from controller.errors import InvalidArgument

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
    format: str          # what the content is, in oslo's names ("raw", "qcow2", "gpt", ...)
    virtual_size: int    # bytes the guest sees; for raw-like content, the stream size
    size: int            # bytes inspected


class ImageInspector:
    """Feed it every chunk with `feed`, then call `finish`; either may refuse the image."""

    def __init__(self, disk_format: str):
        if disk_format not in DISK_FORMATS:
            raise InvalidArgument("disk_format", f"must be one of {', '.join(DISK_FORMATS)}",
                                  reason="UNSUPPORTED_DISK_FORMAT")
        self.disk_format = disk_format
        # The declared format's own inspector: once it gives up, the upload is refused
        # (a VHD may still be a fixed one, told by its footer at the end).
        self._expected = None if disk_format in RAW_LIKE | {"vhd"} else disk_format
        self._live = [cls() for name, cls in fi.ALL_FORMATS.items() if name != "raw"]
        self._matched: dict[str, fi.FileInspector] = {}
        self._head: bytearray | None = bytearray()
        self._tail = b""          # last 512 bytes, for a fixed VHD's footer
        self._size = 0
        self._finished = False

    @property
    def held_bytes(self) -> int:
        """Bytes held in memory (bounded whatever the stream size; for tests and debugging)."""
        regions = sum(sum(i.context_info.values()) for i in self._live)
        return regions + len(self._head or b"") + len(self._tail)

    def feed(self, chunk: bytes) -> None:
        if self._finished:
            raise RuntimeError("inspection already finished")
        self._size += len(chunk)
        if self.disk_format == "vhd":
            self._tail = (self._tail + bytes(chunk[-_VHD_FOOTER:]))[-_VHD_FOOTER:]
        if self._head is None:
            self._inspect(chunk)
            return
        self._head += chunk
        if len(self._head) >= HEAD_BYTES:
            self._flush_head()

    def finish(self) -> Inspection:
        if self._finished:
            raise RuntimeError("inspection already finished")
        self._finished = True
        self._flush_head()
        for inspector in self._live:
            inspector.finish()
        self._settle(finished=True)
        names = frozenset(self._matched)
        if len(names) > 1 and not (self.disk_format == "iso" and names == _HYBRID_ISO):
            raise InvalidArgument("data", "content matches several disk formats",
                                  reason="IMAGE_FORMAT_AMBIGUOUS", formats=",".join(sorted(names)))
        detected = "iso" if names == _HYBRID_ISO else next(iter(names), "raw")
        if detected in ("raw", "gpt"):
            virtual_size = self._size
            if self.disk_format == "vhd" and _is_fixed_vhd(self._tail, self._size):
                detected, virtual_size = "vhd", self._size - _VHD_FOOTER
        else:
            virtual_size = self._matched[detected].virtual_size
            if detected == "iso" and not virtual_size:   # no primary volume descriptor
                virtual_size = self._size
        if not _accepts(self.disk_format, detected):
            self._mismatch(detected)
        return Inspection(format=detected, virtual_size=virtual_size, size=self._size)

    # -- internals -----------------------------------------------------------------------
    def _flush_head(self) -> None:
        if self._head is not None:
            head, self._head = bytes(self._head), None
            self._inspect(head, whole_for=fi.VMDKInspector)

    def _inspect(self, data: bytes, whole_for: type | None = None) -> None:
        view = memoryview(data)
        for inspector in list(self._live):
            try:
                if isinstance(inspector, whole_for or ()):
                    inspector.eat_chunk(view)
                else:
                    for start in range(0, len(view), PIECE_BYTES):
                        inspector.eat_chunk(view[start:start + PIECE_BYTES])
            except Exception as exc:       # any parse failure means "not this format"
                self._drop(inspector, f"{exc.__class__.__name__}: {exc}")
        self._settle(finished=False)

    def _settle(self, finished: bool) -> None:
        """Decide every inspector that has seen enough: refuse early where certain."""
        for inspector in list(self._live):
            if not inspector.complete:
                if finished:          # the stream ended before this format was recognisable
                    self._drop(inspector, "incomplete at end of stream")
                continue
            name = inspector.NAME
            if not inspector.format_match:
                self._drop(inspector, "no match")
            elif name not in self._matched:
                self._matched[name] = inspector
                self._check_safety(inspector)
                if name not in _TOLERATED[self.disk_format]:
                    self._mismatch(name)

    def _drop(self, inspector: fi.FileInspector, why: str) -> None:
        self._live.remove(inspector)
        if inspector.NAME == self._expected:
            LOG.info("content is not %s: %s", self._expected, why)
            self._mismatch(next(iter(self._matched), None))

    def _mismatch(self, detected: str | None):
        meta = {"declared": self.disk_format}
        if detected:
            meta["detected"] = detected
        raise InvalidArgument("disk_format", f"image content is not {self.disk_format}",
                              reason="IMAGE_FORMAT_MISMATCH", **meta)

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
            raise InvalidArgument("data", f"{inspector.NAME} image failed safety checks",
                                  reason="IMAGE_UNSAFE", format=inspector.NAME,
                                  checks=checks) from None
        except fi.ImageFormatError:
            raise InvalidArgument("data", f"{inspector.NAME} image cannot be checked",
                                  reason="IMAGE_UNSAFE", format=inspector.NAME) from None


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
