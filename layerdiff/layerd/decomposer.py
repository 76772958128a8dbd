"""The peeling decomposer: LayerD's loop (Suzuki et al. 2025) around a small top-layer network.

At the work size (at most ``work_size`` px on the longest side), repeatedly:

1. :class:`~layerdiff.models.top_layer.TopLayerNet` predicts the alpha of the top, unoccluded layers of
   the current image at its native size; the prediction is upsampled and thresholded, and its edge is
   matted against the current image (the colour-line matte of the region engine,
   :func:`layerdiff.regions.paint.matte_cover`); where the network is confidently in between inside the
   mask, its alpha is kept (translucent panels);
2. the layer's colour is taken from the image where its alpha is ~1 and filled outward by push-pull
   (:func:`layerdiff.regions.fill.push_pull_fill`); under its soft edges the image is unblended,
   ``rest = (image - alpha * colour) / (1 - alpha)``;
3. what the layer hid is completed in the rest from the rest's own visible pixels
   (:func:`layerdiff.completion.complete_layer`: a parametric fit for flat and gradient fills, PatchMatch
   or push-pull otherwise); an input with transparency keeps it (nothing is invented under transparent
   pixels: the rest's alpha is unblended too and filled only from the rest's own alpha);
4. the rest is the next current image; peeling stops when the predicted top alpha is nearly empty, when
   it covers nearly the whole opaque canvas (the background), or when the requested count is reached.

The last rest is the background. With an exact count that peeling does not reach, the peeled layers
(and, on a transparent canvas, the last rest) with several separate parts give their largest part a
layer of its own (parts at one depth do not
overlap, so their order does not matter), then empty layers pad the stack. The work-size stack is
lifted to full resolution with exact recomposition (:func:`layerdiff.regions.paint.at_work_size`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from ..contract import Progress, check_num_layers, check_options, image_to_array, keep_bit_depth
from ..layered import LayeredImage

__all__ = ["LayerDDecomposer", "peel_once", "split_parts"]

DEFAULT_NAME = "layerd-tiny"


def _erode(mask: np.ndarray, iterations: int = 1) -> np.ndarray:
    return ndimage.binary_erosion(mask, np.ones((3, 3), bool), iterations=iterations, border_value=1)


def peel_once(image: np.ndarray, prob: np.ndarray, matte_radius: int = 3, threshold: float = 0.5,
              complete: bool = True, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Remove the top layer predicted by ``prob`` (h, w) in [0, 1] from ``image`` (h, w, 4) straight RGBA.

    Returns ``(layer, rest)``, both (h, w, 4) float32: the top layer (matted alpha, unblended colour) and
    what lies under it (unblended where the layer is soft, completed where it hid everything), so that
    ``layer`` over ``rest`` is ``image`` where the layer's alpha is below one and the completion is
    exact.
    """
    from ..completion import complete_layer
    from ..regions.fill import push_pull_fill
    from ..regions.paint import matte_cover

    rgb, a_img = image[..., :3], image[..., 3]  # (h, w, 3), (h, w)
    hard = (prob > threshold) & (a_img > 0)  # (h, w) nothing is taken from transparent pixels
    alpha = matte_cover(rgb, hard, matte_radius)  # (h, w)
    inner = _erode(hard, 2)
    translucent = inner & (prob > 0.2) & (prob < 0.8)  # (h, w) the network's own in-between alpha
    alpha = np.where(translucent, prob, alpha).astype(np.float32)
    alpha = np.minimum(alpha, a_img)  # a layer never holds more than the image there
    solid = _erode(alpha >= 0.98)
    if not solid.any():
        solid = alpha >= 0.5
    colour = push_pull_fill(rgb, solid.astype(np.float32))  # (h, w, 3)
    colour = np.where((alpha >= 0.98)[..., None], rgb, colour)
    layer = np.concatenate([np.where(alpha[..., None] > 0, colour, rgb), alpha[..., None]], -1)
    # unblend: image_premult = colour * alpha + rest_premult * (1 - alpha)
    keep = np.clip(1.0 - alpha, 1e-6, 1.0)[..., None]  # (h, w, 1)
    rest_a = np.clip((a_img - alpha) / keep[..., 0], 0.0, 1.0)  # (h, w)
    rest_p = np.clip(rgb * a_img[..., None] - colour * alpha[..., None], 0.0, None) / keep  # (h, w, 3)
    rest_rgb = np.clip(np.divide(rest_p, rest_a[..., None], out=rgb.copy(), where=rest_a[..., None] > 1e-3), 0, 1)
    hole = ndimage.binary_dilation(alpha > 0.5, np.ones((3, 3), bool)) & hard.any()  # (h, w)
    known = _erode(~hole & (alpha < 0.02) & (rest_a > 0.5))
    if hole.any():
        filled_a = push_pull_fill(rest_a[..., None], (~hole).astype(np.float32))[..., 0]  # (h, w, 1) -> (h, w)
        rest_a = np.where(hole, np.clip(filled_a, 0.0, 1.0), rest_a)
        if complete and known.any():
            rest_rgb = complete_layer(rest_rgb, known, hole, seed=seed)
        elif known.any():
            rest_rgb = np.where(hole[..., None], push_pull_fill(rest_rgb, known.astype(np.float32)), rest_rgb)
    rest = np.concatenate([rest_rgb, rest_a[..., None]], -1).astype(np.float32)
    return layer.astype(np.float32), rest


def split_parts(layer: np.ndarray, min_pixels: int = 4) -> tuple[np.ndarray, np.ndarray] | None:
    """The largest connected part of ``layer`` (h, w, 4) and the rest of it, as two layers; None when the
    layer has one part (of at least ``min_pixels`` px). Soft edge pixels go to the nearest part."""
    alpha = layer[..., 3]
    labels, count = ndimage.label(alpha > 0.5, np.ones((3, 3), bool))
    if count < 2:
        return None
    sizes = np.bincount(labels.ravel())[1:]
    if np.sort(sizes)[-2] < min_pixels:
        return None
    biggest = int(np.argmax(sizes)) + 1
    near = ndimage.distance_transform_edt(labels == 0, return_distances=False, return_indices=True)
    nearest = labels[tuple(near)]  # (h, w) the part each pixel is closest to
    mine = (nearest == biggest)[..., None]
    first = np.where(mine, layer, np.concatenate([layer[..., :3], np.zeros_like(alpha)[..., None]], -1))
    second = np.where(mine, np.concatenate([layer[..., :3], np.zeros_like(alpha)[..., None]], -1), layer)
    return first.astype(np.float32), second.astype(np.float32)


class LayerDDecomposer:
    """:class:`~layerdiff.contract.Decomposer` peeling top layers with a
    :class:`~layerdiff.models.top_layer.TopLayerNet` (module docstring). Deterministic: ``seed`` is accepted
    and unused; no options.

    Args:
        net: the top-layer network (anything with ``predict(image (h, w, 4)) -> alpha (h, w)``).
        name, max_layers: the model's name and layer limit.
        work_size: longest side the loop runs at (larger inputs are lifted back with exact recomposition).
        min_area: peeling stops when the predicted top layer covers less than this fraction of the image.
        background_area: ... or more than this fraction of its opaque pixels (the background itself).
        threshold: probability above which a pixel belongs to the top layer.
        matte_radius: radius of the colour-line matte at the edge.
        complete: complete hidden parts with :func:`layerdiff.completion.complete_layer` (else push-pull).
    """

    options: frozenset[str] = frozenset()

    def __init__(self, net: Any, name: str = DEFAULT_NAME, max_layers: int = 6, work_size: int = 256,
                 min_area: float = 0.002, background_area: float = 0.97, threshold: float = 0.5,
                 matte_radius: int = 3, complete: bool = True) -> None:
        if not 0.0 <= min_area < background_area <= 1.0:
            raise ValueError(f"need 0 <= min_area < background_area <= 1, got {min_area}, {background_area}")
        if work_size < 16:
            raise ValueError(f"work_size must be at least 16 px, got {work_size}")
        self.net = net.eval() if hasattr(net, "eval") else net
        self.name = name
        self.max_layers = int(max_layers)
        self.work_size = int(work_size)
        self.min_area = float(min_area)
        self.background_area = float(background_area)
        self.threshold = float(threshold)
        self.matte_radius = int(matte_radius)
        self.complete = bool(complete)

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path = DEFAULT_NAME, **kwargs: Any) -> LayerDDecomposer:
        """The decomposer of a registry preset with a ``top_layer`` component (random initialisation when the
        preset has no weights) or of a folder holding the network (``top_layer/`` or the network itself)."""
        from ..errors import LayerdiffError
        from ..models.top_layer import TopLayerNet
        from ..models.weights import load_component
        from ..registry import get_preset

        path = Path(name_or_path).expanduser()
        if path.is_dir():
            folder = path / "top_layer" if (path / "top_layer").is_dir() else path
            kwargs.setdefault("name", path.name)
            return cls(load_component(TopLayerNet, folder), **kwargs)
        preset = get_preset(str(name_or_path))
        spec = preset.components.get("top_layer")
        if spec is None:
            raise LayerdiffError(f"model {preset.name!r} has no top-layer network")
        kwargs.setdefault("name", preset.name)
        kwargs.setdefault("max_layers", preset.max_layers)
        weights = preset.weights_path()
        if weights is None:
            net = spec.load_class()(**spec.config)
        elif isinstance(weights, Path):
            folder = weights / "top_layer" if (weights / "top_layer").is_dir() else weights
            net = load_component(spec.load_class(), folder)
        else:
            raise LayerdiffError(f"model {preset.name!r}: weights {weights!r} are not on this machine")
        return cls(net, **kwargs)

    def decompose(self, image: Any, num_layers: int | str = "auto", *, max_layers: int | None = None,
                  seed: int | None = None, callback: Progress | None = None, **options: Any) -> LayeredImage:
        """Split ``image`` (PIL image, (H, W, 3|4) array or LayeredImage) into layers, bottom to top.

        ``num_layers``: "auto" (peel until the network finds nothing, at most ``max_layers`` layers) or an
        exact count. The composite equals the input within half an 8-bit step.
        """
        from ..regions.paint import at_work_size, named_stack

        check_options(self, options)
        wanted, cap = check_num_layers(num_layers, max_layers, self.max_layers, self.name)
        full, _ = image_to_array(image)  # (H, W, 4)
        stack = at_work_size(full, self.work_size, lambda small: self.decompose_small(small, wanted, cap))
        if callback is not None:
            callback(1, 1)
        out = named_stack(stack, self.name, on_8bit_grid=True)
        return keep_bit_depth(out, image)

    def decompose_small(self, img: np.ndarray, wanted: int | None, cap: int) -> np.ndarray:
        """Layers (K, h, w, 4) of ``img`` (h, w, 4) at the work size: ``wanted`` layers exactly, or an automatic
        count of at most ``cap``."""
        if wanted == 1:
            return img[None].astype(np.float32, copy=True)
        h, w = img.shape[:2]
        goal = (wanted if wanted is not None else cap) - 1  # foreground layers to find at most
        current = img.astype(np.float32, copy=True)
        found: list[np.ndarray] = []  # top first
        while len(found) < goal:
            prob = np.asarray(self.net.predict(current), np.float32)  # (h, w)
            hard = (prob > self.threshold) & (current[..., 3] > 0)
            opaque = max(1, int((current[..., 3] > 0.5).sum()))
            if hard.sum() < self.min_area * h * w or hard.sum() >= self.background_area * opaque:
                break
            layer, current = peel_once(current, prob, self.matte_radius, self.threshold, self.complete)
            found.append(layer)
        stack = [current] + found[::-1]  # bottom to top
        if wanted is not None and len(stack) < wanted:
            # on a transparent canvas the last rest is a layer like the others: its parts may be split too
            transparent = bool((current[..., 3] < 0.5).any())
            stack = self._split_to(stack, wanted) if transparent else [current] + self._split_to(stack[1:],
                                                                                                  wanted - 1)
        while wanted is not None and len(stack) < wanted:
            stack.append(np.zeros_like(current))
        return np.stack(stack).astype(np.float32)  # (K, h, w, 4)

    @staticmethod
    def _split_to(layers: list[np.ndarray], count: int) -> list[np.ndarray]:
        """Split layers into their parts (the layer with the largest second part first) until there are
        ``count`` layers or no layer has two parts."""
        layers = list(layers)
        while len(layers) < count:
            best, best_size = None, 0
            for i, layer in enumerate(layers):
                labels, n = ndimage.label(layer[..., 3] > 0.5, np.ones((3, 3), bool))
                if n >= 2:
                    second = int(np.sort(np.bincount(labels.ravel())[1:])[-2])
                    if second > best_size:
                        best, best_size = i, second
            parts = split_parts(layers[best]) if best is not None else None
            if parts is None:
                break
            layers[best:best + 1] = list(parts)
        return layers
