"""Size limits checked before any pixel is decoded, so absurd or hostile files are refused cheaply.

A file declares its canvas (and its layers) in a few header bytes. A decoded layer takes up to
``width * height * 16`` bytes (float32 RGBA, :data:`BYTES_PER_PIXEL`): 8- and 16-bit layers hold 4
or 8 bytes a pixel until something needs float (see :class:`~layerdiff.layered.Layer`), so the
budget below counts what they take once converted. :class:`Limits` bounds what the readers accept:

- ``max_pixels``: the canvas and each layer (default ``16384 * 16384``; ``$LAYERDIFF_MAX_PIXELS``);
- ``max_decoded_bytes``: the whole file, decoded - the canvas plus every layer at 16 bytes a pixel,
  summed from the sizes the file declares before any pixel is decoded (default 2 GiB;
  ``$LAYERDIFF_MAX_DECODED_BYTES``);
- ``max_layers`` and ``max_member_bytes`` (one ZIP member, inflated).

Pillow's own ``Image.MAX_IMAGE_PIXELS`` bomb guard is replaced by these budgets inside the readers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import LayeredFileError

DEFAULT_MAX_PIXELS = 16384 * 16384
"""Default maximum canvas (and layer) pixel count: 268,435,456."""

DEFAULT_MAX_LAYERS = 4096
"""Default maximum number of layers in one file."""

DEFAULT_MAX_DECODED_BYTES = 2 * 1024**3
"""Default budget for the decoded size of one file: 2 GiB (an 11,585-pixel square at 16 B a pixel)."""

BYTES_PER_PIXEL = 16
"""Bytes one decoded pixel takes in memory as float32 RGBA (the most a layer holds)."""

ENV_MAX_PIXELS = "LAYERDIFF_MAX_PIXELS"
ENV_MAX_DECODED_BYTES = "LAYERDIFF_MAX_DECODED_BYTES"


@dataclass(frozen=True)
class Limits:
    """What a reader accepts. ``max_pixels`` bounds ``width * height`` of the canvas and of each layer;
    ``max_layers`` the layer count; ``max_member_bytes`` the uncompressed size of one member of a
    ZIP-based file (ORA, zipped PNG folder), which stops zip bombs before inflation;
    ``max_decoded_bytes`` the memory the whole decoded file takes (see :class:`DecodeBudget`)."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    max_layers: int = DEFAULT_MAX_LAYERS
    max_member_bytes: int = 2 * 1024**3
    max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES

    def __post_init__(self) -> None:
        for name in ("max_pixels", "max_layers", "max_member_bytes", "max_decoded_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Limits.{name} must be a positive integer, got {value!r}")

    @classmethod
    def from_env(cls) -> Limits:
        """Defaults, with ``max_pixels`` from ``$LAYERDIFF_MAX_PIXELS`` and ``max_decoded_bytes`` from
        ``$LAYERDIFF_MAX_DECODED_BYTES`` when they are set (positive integers; ``_`` allowed)."""
        values = {}
        for name, env in (("max_pixels", ENV_MAX_PIXELS), ("max_decoded_bytes", ENV_MAX_DECODED_BYTES)):
            raw = os.environ.get(env, "").strip()
            if not raw:
                continue
            try:
                value = int(raw.replace("_", ""))
            except ValueError:
                raise ValueError(f"{env} must be a positive integer, got {raw!r}") from None
            if value < 1:
                raise ValueError(f"{env} must be a positive integer, got {raw!r}")
            values[name] = value
        return cls(**values)

    def budget(self, path: object) -> DecodeBudget:
        """A fresh :class:`DecodeBudget` for one file."""
        return DecodeBudget(self, path)

    def check_size(self, path: object, width: int, height: int, what: str = "canvas") -> None:
        """Raise ``LayeredFileError(reason="too-large")`` if ``width x height`` is over the budget,
        or ``reason="corrupt"`` if a dimension is not positive."""
        if width < 1 or height < 1:
            raise LayeredFileError(path, f"{what} size {width}x{height} is not positive", "corrupt")
        if width * height > self.max_pixels:
            raise LayeredFileError(
                path,
                f"{what} of {width}x{height} = {width * height:,} pixels is over the limit of "
                f"{self.max_pixels:,} (set {ENV_MAX_PIXELS} to raise it)",
                "too-large",
            )

    def check_layers(self, path: object, count: int) -> None:
        if count > self.max_layers:
            raise LayeredFileError(path, f"{count} layers is over the limit of {self.max_layers}",
                                   "too-large")


class DecodeBudget:
    """Adds up what decoding one file will allocate, from declared sizes, and refuses it up front.

    ``add(width, height, what)`` counts ``width * height * BYTES_PER_PIXEL`` bytes and raises
    ``LayeredFileError(reason="too-large")`` once the total passes ``limits.max_decoded_bytes``.
    """

    def __init__(self, limits: Limits, path: object) -> None:
        self.limits = limits
        self.path = path
        self.total = 0

    def add(self, width: int, height: int, what: str = "layer") -> None:
        self.total += max(int(width), 0) * max(int(height), 0) * BYTES_PER_PIXEL
        if self.total > self.limits.max_decoded_bytes:
            raise LayeredFileError(
                self.path,
                f"too large: decoding it needs at least {self.total / 2**20:,.0f} MiB (counted up to {what}), "
                f"over the budget of {self.limits.max_decoded_bytes / 2**20:,.0f} MiB (set "
                f"{ENV_MAX_DECODED_BYTES} to raise it)",
                "too-large",
            )


def too_large(path: object, what: str = "file") -> LayeredFileError:
    """The one-line error for a ``MemoryError`` while decoding ``path``."""
    return LayeredFileError(path, f"too large: not enough memory to decode the {what} (lower its size, or set "
                            f"{ENV_MAX_DECODED_BYTES} to refuse such files up front)", "too-large")


def resolve(limits: Limits | None) -> Limits:
    """``limits`` itself, or the defaults with the environment override applied."""
    return limits if limits is not None else Limits.from_env()
