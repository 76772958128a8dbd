"""Reading and writing layered images: PSD/PSB, OpenRaster, flat images, PNG folders and ZIPs.

``load`` picks the reader from the file's first bytes (never from its extension), so a PNG
named ``.psd`` loads as a PNG. Every failure to read raises
:class:`~layerdiff.errors.LayeredFileError` with ``reason`` one of :data:`REASONS`:

- ``"truncated"``: the file ends before the data it declares;
- ``"corrupt"``: the data is inconsistent or cannot be decoded;
- ``"unsupported"``: a recognised container we do not read (e.g. a ZIP without a manifest, GIF);
- ``"too-large"``: over the :class:`~layerdiff.io.limits.Limits` (pixels, layers, member bytes);
- ``"not-an-image"``: no known signature;
- ``"empty"``: a zero-byte file or empty folder.

``load`` refuses a file whose decoded size would pass the budget (``Limits.max_decoded_bytes``,
``$LAYERDIFF_MAX_DECODED_BYTES``) from the sizes it declares, before decoding; ``load_composite``
gives the flattened image a file shows (a PSD's embedded composite when it has one).

``save`` picks the writer from the target's extension (``.psd``, ``.psb``, ``.ora``, ``.zip``,
``.png-dir`` or an extension-less / existing folder) or from ``format``; every write is atomic,
and an existing folder is replaced only if layerdiff wrote it. ``save_set`` writes several
formats as one set (staged, then renamed together), each recording the same run id.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..atomic import AtomicSet, check_replaceable
from ..errors import LayeredFileError
from ..layered import LayeredImage
from .encode import EncodedStack
from .images import read_flat, read_image_rgba
from .limits import DEFAULT_MAX_PIXELS, Limits, resolve, too_large
from .ora import is_ora_zip, read_ora, write_ora, write_ora_to
from .pngdir import (
    MANIFEST,
    find_manifest_in_zip,
    is_png_stack_folder,
    read_pngdir,
    read_pngzip,
    write_pngdir,
    write_pngdir_into,
    write_pngzip,
    write_pngzip_to,
)
from .psd import read_psd, read_psd_composite, write_psd, write_psd_to
from .svg import write_svg, write_svg_to

__all__ = ["load", "load_composite", "load_composite_with_depth", "save", "save_set", "new_run_id", "sniff",
           "read_image_rgba", "SUPPORTED_INPUTS", "SUPPORTED_OUTPUTS", "REASONS", "Limits", "DEFAULT_MAX_PIXELS"]

SUPPORTED_INPUTS = ("psd", "psb", "ora", "png", "jpeg", "webp", "tiff", "png-dir", "zip")
"""Formats :func:`load` reads (detected from content)."""

SUPPORTED_OUTPUTS = ("psd", "ora", "png-dir", "zip", "svg")
"""Formats :func:`save` writes."""

REASONS = ("truncated", "corrupt", "unsupported", "too-large", "not-an-image", "empty")
"""The values of ``LayeredFileError.reason`` raised by :func:`load`."""

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),
    (b"MM\x00+", "tiff"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
    (b"GIF8", "gif"),
    (b"BM", "bmp"),
)


def sniff(path: str | os.PathLike) -> str:
    """The format of ``path`` from its content: one of :data:`SUPPORTED_INPUTS` (``"zip"`` covers
    ORA too, see :func:`load`). Raises :class:`LayeredFileError` for empty, unknown or unsupported
    content, and ``FileNotFoundError`` for a missing path."""
    p = Path(path)
    if p.is_dir():
        if (p / MANIFEST).is_file():
            return "png-dir"
        if not any(p.iterdir()):
            raise LayeredFileError(p, "folder is empty", "empty")
        raise LayeredFileError(p, "folder has no manifest.json", "unsupported")
    with open(p, "rb") as fh:
        head = fh.read(32)
    if not head:
        raise LayeredFileError(p, "file is empty", "empty")
    if head[:4] == b"8BPS":
        if len(head) < 6:
            raise LayeredFileError(p, "PSD header is cut short", "truncated")
        return "psb" if head[4:6] == b"\x00\x02" else "psd"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    for magic, fmt in _SIGNATURES:
        if head.startswith(magic):
            if fmt in ("gif", "bmp"):
                raise LayeredFileError(p, f"{fmt.upper()} images are not supported "
                                       f"(supported: {', '.join(SUPPORTED_INPUTS)})", "unsupported")
            return fmt
    if len(head) < 8 and any(magic.startswith(head) for magic, _ in _SIGNATURES):
        raise LayeredFileError(p, "file is cut inside its signature", "truncated")
    raise LayeredFileError(p, "unknown file signature; not a PSD, ORA, PNG, JPEG, WebP, TIFF or ZIP",
                           "not-an-image")


def load(path: str | os.PathLike, *, limits: Limits | None = None, max_decoded_bytes: int | None = None,
         ) -> LayeredImage:
    """Read any supported layered or flat image into a :class:`LayeredImage`.

    ``limits`` bounds the work (see :class:`Limits`; default from ``$LAYERDIFF_MAX_PIXELS`` and
    ``$LAYERDIFF_MAX_DECODED_BYTES``); ``max_decoded_bytes`` overrides its decode budget. A file
    over a limit is refused from its headers, before decoding; running out of memory or nesting
    too deep while decoding is reported the same way, as a one-line error.
    Raises :class:`LayeredFileError` (``.reason`` in :data:`REASONS`) or ``FileNotFoundError``.
    """
    p = Path(path)
    limits = resolve(limits)
    if max_decoded_bytes is not None:
        limits = dataclasses.replace(limits, max_decoded_bytes=max_decoded_bytes)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file or folder")
    try:
        return _load(p, limits)
    except MemoryError:
        raise too_large(p) from None
    except RecursionError:
        raise LayeredFileError(p, "structure nested too deeply to read", "corrupt") from None


def load_composite(path: str | os.PathLike, *, limits: Limits | None = None) -> tuple[np.ndarray, str]:
    """The image a file shows, flattened: float32 RGBA (H, W, 4), and where it came from.

    For a PSD/PSB with an embedded merged image that image (``"embedded composite"``, see
    :func:`~layerdiff.io.psd.read_psd_composite`); for anything else the composite of
    :func:`load`'s layers (``"layers"``).
    """
    rgba, source, _ = load_composite_with_depth(path, limits=limits)
    return rgba, source


def load_composite_with_depth(path: str | os.PathLike, *, limits: Limits | None = None,
                              ) -> tuple[np.ndarray, str, int]:
    """:func:`load_composite` and the bit depth (8 or 16) whose precision the composite holds."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file or folder")
    limits = resolve(limits)
    try:
        if sniff(p) in ("psd", "psb"):
            return read_psd_composite(p, limits=limits)
        layered = _load(p, limits)
        return layered.composite(), "layers", layered.bit_depth
    except MemoryError:
        raise too_large(p) from None
    except RecursionError:
        raise LayeredFileError(p, "structure nested too deeply to read", "corrupt") from None


def _load(p: Path, limits: Limits) -> LayeredImage:
    fmt = sniff(p)
    if fmt in ("psd", "psb"):
        return read_psd(p, limits=limits)
    if fmt in ("png", "jpeg", "webp", "tiff"):
        return read_flat(p, limits=limits)
    if fmt == "png-dir":
        return read_pngdir(p, limits=limits)
    try:
        with zipfile.ZipFile(p) as zf:
            ora = is_ora_zip(zf)
            stack = find_manifest_in_zip(zf) is not None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        reason = "truncated" if "end of central directory" in str(err).lower() else "corrupt"
        raise LayeredFileError(p, f"not a readable ZIP archive: {err}", reason) from None
    if ora:
        return read_ora(p, limits=limits)
    if stack:
        return read_pngzip(p, limits=limits)
    raise LayeredFileError(p, "ZIP is neither an OpenRaster file nor a PNG folder with manifest.json",
                           "unsupported")


def _format_for(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        key = fmt.lower().lstrip(".")
        key = {"psb": "psd", "folder": "png-dir", "dir": "png-dir", "openraster": "ora"}.get(key, key)
        if key not in SUPPORTED_OUTPUTS:
            raise ValueError(f"unknown output format {fmt!r}; choose one of {', '.join(SUPPORTED_OUTPUTS)}")
        return key
    suffix = path.suffix.lower()
    if suffix in (".psd", ".psb"):
        return "psd"
    if suffix == ".ora":
        return "ora"
    if suffix == ".zip":
        return "zip"
    if suffix == ".svg":
        return "svg"
    if suffix == ".png-dir" or suffix == "" or path.is_dir():
        return "png-dir"
    raise ValueError(f"{path}: cannot tell the output format from {suffix!r}; use .psd, .ora, .zip, .svg, "
                     "a folder path (or .png-dir), or pass format=")


def save(image: LayeredImage, path: str | os.PathLike, *, format: str | None = None,
         run: str | None = None) -> Path:
    """Write ``image`` to ``path`` atomically; returns the path written.

    ``format`` (``"psd"``, ``"ora"``, ``"zip"``, ``"png-dir"``) overrides the extension. ``run``: an id
    recorded in the file (see :func:`save_set`). A PNG folder replaces an existing folder only if
    layerdiff wrote it (else :class:`~layerdiff.atomic.FolderNotOursError`).
    """
    p, fmt = _check_save(image, path, format)
    writer = {"psd": write_psd, "ora": write_ora, "zip": write_pngzip, "png-dir": write_pngdir,
              "svg": write_svg}[fmt]
    return writer(image, p, run=run)


def _check_save(image: LayeredImage, path: str | os.PathLike, format: str | None) -> tuple[Path, str]:
    if not isinstance(image, LayeredImage):
        raise TypeError(f"save() needs a LayeredImage, got {type(image).__name__}")
    if len(image) == 0:
        raise ValueError(f"{path}: cannot save an image with no layers")
    p = Path(path)
    return p, _format_for(p, format)


def new_run_id() -> str:
    """A fresh id for the outputs of one command: UTC time and 6 random hex digits."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


def save_set(image: LayeredImage, targets: Sequence[tuple[str | os.PathLike, str | None]], *,
             run: str | None = None) -> tuple[list[Path], str]:
    """Write ``image`` to several ``(path, format)`` targets as one set; returns the paths and the run id.

    Every output is first written to a hidden temporary beside its target; only when all are
    complete are they renamed into place, one after the other, so a failure or a kill while
    writing leaves the previous set whole. Each output records ``run`` (default: a new
    :func:`new_run_id`) - ``manifest.json`` ``"run"``, ORA ``layerdiff:run``, PSD XMP - and
    :func:`load` returns it as ``metadata["run"]``, so outputs from different runs can be told
    apart. Layer PNGs and the composite are encoded once for all formats.
    """
    run = run or new_run_id()
    planned = [_check_save(image, path, fmt) for path, fmt in targets]
    for p, fmt in planned:  # refuse a folder that is not ours before any work
        if fmt == "png-dir":
            check_replaceable(p, is_png_stack_folder)
    # the 8/16-bit composite is kept for the ORA writer only
    encoded = EncodedStack(image, composite_depths=None if any(fmt == "ora" for _, fmt in planned) else ())
    written = []
    with AtomicSet() as outputs:
        for p, fmt in planned:
            if fmt == "png-dir":
                write_pngdir_into(image, outputs.folder(p, owned=is_png_stack_folder), encoded=encoded, run=run)
            else:
                writer = {"psd": write_psd_to, "ora": write_ora_to, "zip": write_pngzip_to, "svg": write_svg_to}[fmt]
                writer(image, outputs.file(p), encoded=encoded, run=run)
            written.append(p)
    encoded.release_arrays()
    return written, run
