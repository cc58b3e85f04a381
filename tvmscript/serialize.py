"""``save`` / ``load``: a module as its script plus its weights beside it.

The script is the one ``mod.script()`` prints, with every large constant written as
``metadata["relax.expr.Constant"][i]``; the constants go to ``<path>.npz`` in that order. So a
model round-trips through text people can read and diff (Apache TVM prints its weights as
``metadata[...]`` too, but cannot read them back without its JSON section).

``to_bytes`` packs the same pair into one uncompressed zip archive (what a model's exported
library embeds), laid out so that each weight's raw C-order bytes start 64-byte aligned within
the archive: zip padding (an extra field, as Android's zipalign does) before each entry, with the
.npy header (itself padded to 64 bytes) right before the data. So the C entry of an exported
library reads its weights in place. Any zip reader, ``np.load`` included, reads it as before.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from .ir import IRModule
from .ir.function import BaseFunc


def weights_path(path: "str | os.PathLike[str]") -> str:
    """Where ``save`` puts the weights of the script at ``path``."""
    return os.fspath(path) + ".npz"


def save(obj: "IRModule | BaseFunc", path: "str | os.PathLike[str]") -> None:
    """Write ``obj``'s script to ``path`` and its large constants to ``<path>.npz``.

    Both files are written next to their final names and renamed into place, so an
    interrupted save leaves the previous pair intact."""
    from .script.printer import print_with_metadata

    if not isinstance(obj, (IRModule, BaseFunc)):
        raise TypeError(f"save takes an IRModule or a function, got {type(obj).__name__}")
    text, constants = print_with_metadata(obj)
    path = os.fspath(path)
    arrays = {f"c{i}": c.data for i, c in enumerate(constants)}
    tmp_text, tmp_weights = path + ".tmp", weights_path(path) + ".tmp"
    with open(tmp_text, "w", encoding="utf-8") as f:
        f.write(text)
    with open(tmp_weights, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp_weights, weights_path(path))
    os.replace(tmp_text, path)


def load(path: "str | os.PathLike[str]") -> Any:
    """Read what ``save`` wrote (the script, and its weights when it has any)."""
    from .script.parser import from_source

    path = os.fspath(path)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    constants: list[np.ndarray] | None = None
    wpath = weights_path(path)
    if os.path.exists(wpath):
        try:
            with np.load(wpath, allow_pickle=False) as data:
                constants = [data[f"c{i}"] for i in range(len(data.files))]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{wpath}: not the weights file tvmscript.save writes ({exc})") \
                from None
    return from_source(text, filename=path, metadata=constants)


def to_bytes(obj: "IRModule | BaseFunc") -> bytes:
    """``obj``'s script and weights in one zip archive (what a model's exported library embeds)."""
    return pack(obj).data


@dataclass(frozen=True)
class Packed:
    """What ``to_bytes`` writes, and where each large constant's raw C-order bytes start in
    it (64-byte aligned): ``weights`` pairs each constant node with its offset."""

    data: bytes
    weights: tuple[tuple[Any, int], ...]


ALIGNMENT = 64  # where each weight's data starts within the archive, as a multiple
_PADDING_ID = 0xD935  # the zip extra-field id Android's zipalign pads with


def pack(obj: "IRModule | BaseFunc") -> Packed:
    """``to_bytes`` with the offsets of the weights, so a reader that knows them (the C entry
    of an exported library) uses the bytes in place instead of parsing the archive."""
    from .script.printer import print_with_metadata

    text, constants = print_with_metadata(obj)
    entries, found = [], []
    for i, c in enumerate(constants):
        npy = io.BytesIO()
        data = np.ascontiguousarray(c.data)  # raw bytes in C order, whatever the layout was
        np.lib.format.write_array(npy, data, allow_pickle=True)
        header = npy.tell() - data.nbytes
        raw = data.dtype != object  # pickled objects have no raw bytes to point at
        entries.append((f"c{i}.npy", npy.getvalue(), header if raw else None))
        if raw:
            found.append(len(entries) - 1)
    weights, inner = _aligned_zip(entries)
    archive, (_, at) = _aligned_zip([("module.py", text.encode(), None),
                                     ("weights.npz", weights, 0)])
    return Packed(archive, tuple((constants[i], at + inner[i]) for i in found))


def _aligned_zip(entries: list[tuple[str, bytes, int | None]]) -> tuple[bytes, list[int]]:
    """An uncompressed zip of ``(name, data, skip)`` entries; where ``skip`` is not None, the
    entry is padded so that ``data[skip:]`` starts at a multiple of ``ALIGNMENT``. Returns the
    archive and where each entry's ``data[skip:]`` starts in it."""
    out = io.BytesIO()
    offsets = []
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for name, data, skip in entries:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            zip64 = 20 if len(data) * 1.05 > zipfile.ZIP64_LIMIT else 0  # as zipfile decides
            start = out.tell() + 30 + len(name.encode()) + zip64 + (skip or 0)
            pad = -start % ALIGNMENT if skip is not None else 0
            if 0 < pad < 4:  # an extra field takes at least its 4-byte header
                pad += ALIGNMENT
            if pad:
                info.extra = struct.pack("<HH", _PADDING_ID, pad - 4) + bytes(pad - 4)
            header_at = out.tell()
            archive.writestr(info, data)
            with out.getbuffer() as view:
                offsets.append(_data_start(view, header_at) + (skip or 0))
    return out.getvalue(), offsets


def _data_start(archive: memoryview, header_at: int) -> int:
    """Where the data of the entry whose local header is at ``header_at`` starts."""
    name_len, extra_len = struct.unpack_from("<HH", archive, header_at + 26)
    return header_at + 30 + name_len + extra_len


def from_bytes(data: "bytes | memoryview", origin: str = "<bytes>") -> Any:
    """What ``to_bytes`` wrote; ``origin`` names it in errors. ``data`` may be a memoryview
    (a loaded library's read-only bytes): the weights are read out of it once, not copied
    whole first."""
    from .script.parser import from_source

    try:
        with zipfile.ZipFile(_ViewFile(memoryview(data).cast("B"))) as archive:
            text = archive.read("module.py").decode()
            with archive.open("weights.npz") as stream, \
                    np.load(stream, allow_pickle=False) as w:
                constants = [_frozen(w[f"c{i}"]) for i in range(len(w.files))]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{origin}: not a module archive written by tvmscript ({exc})") from None
    return from_source(text, filename=f"{origin}:module.py", metadata=constants)


def _frozen(array: np.ndarray) -> np.ndarray:
    """Read-only, so the constant made of it keeps it instead of copying it."""
    array.setflags(write=False)
    return array


class _ViewFile(io.RawIOBase):
    """A seekable read-only file over a memoryview (``io.BytesIO`` would copy it)."""

    def __init__(self, view: memoryview) -> None:
        self.view, self.pos = view, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: len(self.view)}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer: Any) -> int:
        chunk = self.view[self.pos:self.pos + len(buffer)]
        n = len(chunk)
        memoryview(buffer).cast("B")[:n] = chunk
        self.pos += n
        return n


__all__ = ["Packed", "from_bytes", "load", "pack", "save", "to_bytes", "weights_path"]
