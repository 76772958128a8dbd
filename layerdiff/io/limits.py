"""Size limits checked before any pixel is decoded, so absurd or hostile files are refused cheaply.

A file declares its canvas (and its layers) in a few header bytes; decoding it can allocate
``width * height * 16`` bytes per layer as float32 RGBA. :class:`Limits` bounds what the readers
accept. The default pixel budget is ``16384 * 16384`` (268M) canvas pixels; the environment
variable ``LAYERDIFF_MAX_PIXELS`` overrides it (a positive integer). Pillow's own
``Image.MAX_IMAGE_PIXELS`` bomb guard is replaced by this budget inside the readers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import LayeredFileError

DEFAULT_MAX_PIXELS = 16384 * 16384
"""Default maximum canvas (and layer) pixel count: 268,435,456."""

DEFAULT_MAX_LAYERS = 4096
"""Default maximum number of layers in one file."""

ENV_MAX_PIXELS = "LAYERDIFF_MAX_PIXELS"


@dataclass(frozen=True)
class Limits:
    """What a reader accepts. ``max_pixels`` bounds ``width * height`` of the canvas and of each layer;
    ``max_layers`` the layer count; ``max_member_bytes`` the uncompressed size of one member of a
    ZIP-based file (ORA, zipped PNG folder), which stops zip bombs before inflation."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    max_layers: int = DEFAULT_MAX_LAYERS
    max_member_bytes: int = 2 * 1024**3

    def __post_init__(self) -> None:
        for name in ("max_pixels", "max_layers", "max_member_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Limits.{name} must be a positive integer, got {value!r}")

    @classmethod
    def from_env(cls) -> Limits:
        """Defaults, with ``max_pixels`` taken from ``$LAYERDIFF_MAX_PIXELS`` when it is set."""
        raw = os.environ.get(ENV_MAX_PIXELS, "").strip()
        if not raw:
            return cls()
        try:
            value = int(raw.replace("_", ""))
        except ValueError:
            raise ValueError(f"{ENV_MAX_PIXELS} must be a positive integer, got {raw!r}") from None
        if value < 1:
            raise ValueError(f"{ENV_MAX_PIXELS} must be a positive integer, got {raw!r}")
        return cls(max_pixels=value)

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


def resolve(limits: Limits | None) -> Limits:
    """``limits`` itself, or the defaults with the environment override applied."""
    return limits if limits is not None else Limits.from_env()
