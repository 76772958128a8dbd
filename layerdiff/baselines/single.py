"""The trivial decomposer: the input as one layer (the floor every decomposer must beat)."""

from __future__ import annotations

from typing import Any

from ..contract import Progress, check_num_layers, check_options, image_to_array
from ..layered import Layer, LayeredImage

__all__ = ["SingleLayerDecomposer"]


class SingleLayerDecomposer:
    """Returns the input image as a single layer (its limit is one layer)."""

    options: frozenset[str] = frozenset()
    max_layers: int = 1

    def __init__(self, name: str = "single-layer") -> None:
        self.name = name

    @classmethod
    def from_pretrained(cls, name: str = "single-layer", **kwargs: Any) -> SingleLayerDecomposer:
        """Registry hook; there are no weights. Unknown keyword arguments raise a ValueError."""
        if kwargs:
            raise ValueError(f"{name}: unexpected options {sorted(kwargs)}")
        return cls(name=name)

    def decompose(self, image: Any, num_layers: int | str = "auto", *, max_layers: int | None = None,
                  seed: int | None = None, callback: Progress | None = None, **options: Any) -> LayeredImage:
        """One layer holding the input (a :class:`LayeredImage` input is flattened)."""
        check_options(self, options)
        check_num_layers(num_layers, max_layers, self.max_layers, self.name)
        if callback is not None:
            callback(1, 1)
        pixels, _ = image_to_array(image)  # (H, W, 4)
        height, width = pixels.shape[:2]
        return LayeredImage((width, height), [Layer(pixels, name="Image")],
                            metadata={"decomposer": self.name})
