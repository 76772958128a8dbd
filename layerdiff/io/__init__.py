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

``save`` picks the writer from the target's extension (``.psd``, ``.psb``, ``.ora``, ``.zip``,
``.png-dir`` or an extension-less / existing folder) or from ``format``; every write is atomic.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from ..errors import LayeredFileError
from ..layered import LayeredImage
from .images import read_flat, read_image_rgba
from .limits import DEFAULT_MAX_PIXELS, Limits
from .ora import is_ora_zip, read_ora, write_ora
from .pngdir import MANIFEST, find_manifest_in_zip, read_pngdir, read_pngzip, write_pngdir, write_pngzip
from .psd import read_psd, write_psd

__all__ = ["load", "save", "sniff", "read_image_rgba", "SUPPORTED_INPUTS", "SUPPORTED_OUTPUTS", "REASONS",
           "Limits", "DEFAULT_MAX_PIXELS"]

SUPPORTED_INPUTS = ("psd", "psb", "ora", "png", "jpeg", "webp", "tiff", "png-dir", "zip")
"""Formats :func:`load` reads (detected from content)."""

SUPPORTED_OUTPUTS = ("psd", "ora", "png-dir", "zip")
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


def load(path: str | os.PathLike, *, limits: Limits | None = None) -> LayeredImage:
    """Read any supported layered or flat image into a :class:`LayeredImage`.

    ``limits`` bounds the work (see :class:`Limits`; default from ``$LAYERDIFF_MAX_PIXELS``).
    Raises :class:`LayeredFileError` (``.reason`` in :data:`REASONS`) or ``FileNotFoundError``.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file or folder")
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
    if suffix == ".png-dir" or suffix == "" or path.is_dir():
        return "png-dir"
    raise ValueError(f"{path}: cannot tell the output format from {suffix!r}; use .psd, .ora, .zip, "
                     "a folder path (or .png-dir), or pass format=")


def save(image: LayeredImage, path: str | os.PathLike, *, format: str | None = None) -> Path:
    """Write ``image`` to ``path`` atomically; returns the path written.

    ``format`` (``"psd"``, ``"ora"``, ``"zip"``, ``"png-dir"``) overrides the extension.
    """
    if not isinstance(image, LayeredImage):
        raise TypeError(f"save() needs a LayeredImage, got {type(image).__name__}")
    if len(image) == 0:
        raise ValueError(f"{path}: cannot save an image with no layers")
    p = Path(path)
    fmt = _format_for(p, format)
    writer = {"psd": write_psd, "ora": write_ora, "zip": write_pngzip, "png-dir": write_pngdir}[fmt]
    return writer(image, p)

