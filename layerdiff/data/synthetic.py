"""Synthetic layered graphic designs with captions, for training and testing layer models.

A design is an opaque background (solid, gradient, texture or photo crop) under 0..N-1
foreground elements (shapes, text, emoji icons and stickers, framed photos, semi-transparent
overlays), one element per full-canvas layer, bottom to top. Shadows and glows live in their
object's layer. Every random choice comes from ``numpy.random.default_rng([seed, index])``, so
a sample is a pure function of (seed, index), and geometry is resolution-free: the same design
renders at ``size`` for training or at ``render_size`` (e.g. 512 px) for evaluation.

Captions use the fixed vocabularies of :mod:`layerdiff.data.synth_vocab` ("a red circle",
'the text "SALE" in white bold sans', "a cat emoji"), so generated images can be checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..blend import visibility_weights
from ..layered import Layer, LayeredImage
from .emoji import EmojiLibrary, emoji_library
from .synth_backgrounds import render_background, sample_adjusted_photo, sample_background
from .synth_elements import (
    KIND_DEPTH,
    render_element,
    sample_icon,
    sample_icon_parts,
    sample_overlay,
    sample_photo,
    sample_shape,
    sample_text,
)
from .synth_raster import alpha_box, composite_stack
from .synth_vocab import join_phrases

__all__ = ["LayeredSample", "SyntheticDesigns", "referring_sample", "BOX_ALPHA_THRESHOLD"]

BOX_ALPHA_THRESHOLD = 1.0 / 255.0
"""A pixel belongs to a layer's box when its alpha exceeds this (visible in 8 bits)."""

DEFAULT_KIND_WEIGHTS = {"shape": 0.34, "text": 0.24, "icon": 0.16, "photo": 0.1, "overlay": 0.16}


@dataclass
class LayeredSample:
    """One synthetic design. Layers are full-canvas, bottom (opaque background) to top.

    ``composite`` equals ``layers.composite()``. ``boxes[i]`` is layer i's content box
    (x0, y0, x1, y1) normalised to [0, 1] (alpha > 1/255), or None for an empty layer.
    ``colors[i]`` / ``shapes[i]`` are the vocabulary colour / shape named in ``layer_captions[i]``
    (None where the caption names none).
    """

    layers: LayeredImage
    composite: np.ndarray
    caption: str
    layer_captions: list[str]
    boxes: list[tuple[float, float, float, float] | None]
    kinds: list[str]
    colors: list[str | None]
    shapes: list[str | None]
    seed: int = 0
    index: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.layers)

    def stack(self) -> np.ndarray:
        """The layers as one (L, H, W, 4) float32 array."""
        return self.layers.to_numpy()


class SyntheticDesigns:
    """Deterministic stream of :class:`LayeredSample` designs.

    Args:
        seed: stream seed; ``sample(i)`` depends only on (seed, i) and the constructor arguments.
        size: the canvas side the layout is designed for (minimum text size etc.), in pixels.
        min_layers, max_layers: layer count range, background included (1 = background only).
        render_size: pixel side of the rendered samples (default ``size``); the design is the same.
        overlap_prob: probability that a design lets its elements overlap (else placement avoids it).
        photos: allow photo backgrounds and framed photos (``skimage.data`` images).
        emoji: allow emoji icons (skipped silently when the emoji folder is missing).
        kind_weights: relative frequency of element kinds (shape, text, icon, photo, overlay).
        emoji_dir: folder of Noto emoji SVGs (default: ``../shared/data/noto-emoji-svg``).
        adjusted_photos: share of designs whose background is a photo under editor adjustments, whole or
            in strips (:func:`~layerdiff.data.synth_backgrounds.sample_adjusted_photo`; opt-in).
    """

    def __init__(self, seed: int, size: int = 128, min_layers: int = 1, max_layers: int = 6,
                 render_size: int | None = None, overlap_prob: float = 0.5, photos: bool = True,
                 emoji: bool = True, kind_weights: dict[str, float] | None = None,
                 emoji_dir: str | None = None, adjusted_photos: float = 0.0) -> None:
        if size < 16:
            raise ValueError(f"size must be at least 16 pixels, got {size}")
        if not 1 <= min_layers <= max_layers:
            raise ValueError(f"need 1 <= min_layers <= max_layers, got {min_layers}, {max_layers}")
        if not 0.0 <= overlap_prob <= 1.0:
            raise ValueError(f"overlap_prob must be in [0, 1], got {overlap_prob}")
        if not 0.0 <= adjusted_photos <= 1.0:
            raise ValueError(f"adjusted_photos must be in [0, 1], got {adjusted_photos}")
        self.adjusted_photos = float(adjusted_photos)
        self.seed = int(seed)
        self.size = int(size)
        self.render_size = int(render_size or size)
        self.min_layers, self.max_layers = int(min_layers), int(max_layers)
        self.overlap_prob = float(overlap_prob)
        self.photos = photos
        self.emoji: EmojiLibrary | None = emoji_library(emoji_dir) if emoji else None
        weights = dict(DEFAULT_KIND_WEIGHTS if kind_weights is None else kind_weights)
        unknown = set(weights) - set(DEFAULT_KIND_WEIGHTS)
        if unknown:
            known = sorted(DEFAULT_KIND_WEIGHTS)
            raise ValueError(f"unknown element kinds {sorted(unknown)}; known: {known}")
        if self.emoji is None:
            weights["icon"] = 0.0
        if not photos:
            weights["photo"] = 0.0
        total = sum(weights.values())
        if total <= 0:
            raise ValueError("kind_weights leave no element kind with positive weight")
        self._kinds = list(weights)
        self._kind_p = np.asarray([weights[k] / total for k in self._kinds])

    # ------------------------------------------------------------------ layout
    def rng(self, index: int) -> np.random.Generator:
        """The generator of sample ``index``: seeded by (seed, index) only."""
        if index < 0:
            raise ValueError(f"sample index must be >= 0, got {index}")
        return np.random.default_rng([self.seed, int(index)])

    def design(self, index: int) -> dict[str, Any]:
        """The resolution-free spec of sample ``index``: {"background": spec, "elements": [spec, ...]}."""
        rng = self.rng(index)
        n_layers = int(rng.integers(self.min_layers, self.max_layers + 1))
        background = sample_background(rng, photos=self.photos)
        if self.adjusted_photos > 0 and rng.random() < self.adjusted_photos:  # no draw otherwise: streams
            background = sample_adjusted_photo(rng)  # without adjusted photos stay as they were
        elements: list[list[dict[str, Any]]] = []  # groups: an icon split in parts stays together
        slots = n_layers - 1
        has_full_overlay = False
        while slots > 0:
            kind = self._kinds[int(rng.choice(len(self._kinds), p=self._kind_p))]
            group: list[dict[str, Any]] = []
            if kind == "shape":
                group = [sample_shape(rng)]
            elif kind == "text":
                group = [sample_text(rng, min_px=9.0 / self.size, behind=background["color"])]
            elif kind == "icon" and self.emoji is not None:
                if slots >= 2 and rng.random() < 0.2:
                    group = sample_icon_parts(rng, self.emoji)
                group = group or [sample_icon(rng, self.emoji)]
            elif kind == "photo":
                group = [sample_photo(rng)]
            elif kind == "overlay":
                group = [sample_overlay(rng, full_ok=not has_full_overlay)]
                has_full_overlay = has_full_overlay or group[0]["full"]
            if not group:
                continue
            elements.append(group)
            slots -= len(group)
        depth = [KIND_DEPTH[g[0]["kind"]] + float(rng.normal(0.0, 0.8)) for g in elements]
        elements = [elements[i] for i in np.argsort(depth, kind="stable")]
        self._place(elements, rng)
        return {"background": background, "elements": [spec for group in elements for spec in group]}

    def _place(self, groups: list[list[dict[str, Any]]], rng: np.random.Generator) -> None:
        """Set each element's normalised ``center``; avoid overlaps unless the design allows them."""
        allow_overlap = rng.random() < self.overlap_prob
        placed: list[tuple[float, float, float, float]] = []
        for group in groups:
            spec = group[0]
            w, h = spec["size"]
            margin = 0.02
            center = (0.5, 0.5)
            shrinkable = spec["type"] not in ("text", "overlay")
            w0, h0 = w, h
            for attempt in range(12):  # after 6 misses, shrink the element a little each time
                scale = 0.85 ** max(attempt - 5, 0) if shrinkable and not allow_overlap else 1.0
                w, h = min(w0 * scale, 1.0), min(h0 * scale, 1.0)
                cx = 0.5 if w >= 1 - 2 * margin else float(rng.uniform(w / 2 + margin, 1 - w / 2 - margin))
                cy = 0.5 if h >= 1 - 2 * margin else float(rng.uniform(h / 2 + margin, 1 - h / 2 - margin))
                box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
                center = (cx, cy)
                if spec["kind"] == "overlay" or allow_overlap or not any(_intersects(box, b) for b in placed):
                    break
            for s in group:
                if shrinkable:
                    s["size"] = (w, h)
                s["center"] = center
            if spec["kind"] != "overlay":
                placed.append((center[0] - w / 2, center[1] - h / 2, center[0] + w / 2, center[1] + h / 2))

    # --------------------------------------------------------------- rendering
    def sample(self, index: int, render_size: int | None = None) -> LayeredSample:
        """Render sample ``index`` at ``render_size`` (default: the stream's render size)."""
        n = int(render_size or self.render_size)
        design = self.design(index)
        bg = design["background"]
        layers = [Layer(render_background(bg, n), name="background", metadata={"caption": bg["caption"]})]
        captions, kinds = [bg["caption"]], ["background"]
        colors: list[str | None] = [bg["color"]]
        shapes: list[str | None] = [None]
        for i, spec in enumerate(design["elements"]):
            pixels = render_element(spec, n, self.emoji)
            name = f"{spec['kind']} {i + 1}"
            layers.append(Layer(pixels, name=name, metadata={"caption": spec["caption"]}))
            captions.append(spec["caption"])
            kinds.append(spec["kind"])
            colors.append(spec.get("color"))
            shapes.append(spec.get("shape"))
        image = LayeredImage((n, n), layers)
        boxes: list[tuple[float, float, float, float] | None] = []
        for layer in layers:
            box = alpha_box(layer.pixels[..., 3], BOX_ALPHA_THRESHOLD)
            boxes.append(None if box is None else (box[0] / n, box[1] / n, box[2] / n, box[3] / n))
        caption = bg["caption"][0].upper() + bg["caption"][1:]
        if len(captions) > 1:
            caption += " with " + join_phrases(captions[1:])
        composite = composite_stack(np.stack([layer.pixels for layer in layers]))  # (H, W, 4)
        return LayeredSample(layers=image, composite=composite, caption=caption + ".",
                             layer_captions=captions, boxes=boxes, kinds=kinds, colors=colors, shapes=shapes,
                             seed=self.seed, index=int(index),
                             meta={"render_size": n, "design_size": self.size})

    def __getitem__(self, index: int) -> LayeredSample:
        return self.sample(index)

    def iterate(self, start: int = 0, step: int = 1) -> Iterator[LayeredSample]:
        """Endless iterator over samples start, start + step, start + 2 * step, ..."""
        index = start
        while True:
            yield self.sample(index)
            index += step

    def __iter__(self) -> Iterator[LayeredSample]:
        return self.iterate()


def _intersects(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


PROMPT_TYPES = ("point", "box", "mask", "phrase")


def referring_sample(sample: LayeredSample, rng: np.random.Generator, prompt_type: str | None = None,
                     ) -> dict[str, Any]:
    """A referring-extraction example: one foreground layer is the target, named by a prompt.

    The target is a random non-background layer with visible pixels; the prompt is of
    ``prompt_type`` (random among point, box, mask, phrase when None):

    - ``point``: (x, y) normalised, a pixel where the target is visible (visibility weight > 0.5,
      or its most visible pixel);
    - ``box``: the target layer's content box (x0, y0, x1, y1) normalised;
    - ``mask``: (H, W) bool, where the target's visibility weight exceeds 0.5;
    - ``phrase``: the target's layer caption.

    Returns a dict with ``image`` (H, W, 4) composite, ``target`` (H, W, 4) the full (amodal)
    object layer, ``background`` (H, W, 4) the composite of all other layers, ``below`` /
    ``above`` the composites of the layers under / over the target (``above`` transparent when
    none), so that ``above`` over (``target`` over ``below``) reproduces ``image`` exactly;
    ``occluded`` (whether any layer above covers the target), ``target_index``, ``prompt_type``,
    ``prompt`` (the value above) and all four prompt values under their own keys.
    """
    if prompt_type is not None and prompt_type not in PROMPT_TYPES:
        raise ValueError(f"unknown prompt type {prompt_type!r}; known: {PROMPT_TYPES}")
    stack = sample.layers.to_numpy()  # (L, H, W, 4)
    if stack.shape[0] < 2:
        raise ValueError(f"sample {sample.index} has no foreground layer to refer to")
    weights = visibility_weights(stack[..., 3])  # (L, H, W)
    candidates = [i for i in range(1, stack.shape[0]) if weights[i].max() > 0.05]
    if not candidates:
        raise ValueError(f"sample {sample.index}: every foreground layer is hidden")
    k = candidates[int(rng.integers(len(candidates)))]
    kind = prompt_type or PROMPT_TYPES[int(rng.integers(len(PROMPT_TYPES)))]
    h, w = stack.shape[1:3]
    mask = weights[k] > 0.5  # (H, W)
    if mask.any():
        ys, xs = np.nonzero(mask)
        j = int(rng.integers(len(xs)))
        point = ((xs[j] + 0.5) / w, (ys[j] + 0.5) / h)
    else:
        y, x = np.unravel_index(int(np.argmax(weights[k])), weights[k].shape)
        point = ((x + 0.5) / w, (y + 0.5) / h)
    box = sample.boxes[k]
    others = [i for i in range(stack.shape[0]) if i != k]
    size = sample.layers.size
    background = LayeredImage(size, [Layer(stack[i]) for i in others]).composite()
    below = LayeredImage(size, [Layer(stack[i]) for i in range(k)]).composite()
    above = LayeredImage(size, [Layer(stack[i]) for i in range(k + 1, stack.shape[0])]).composite()
    values = {"point": point, "box": box, "mask": mask, "phrase": sample.layer_captions[k]}
    return {
        "image": sample.composite, "target": stack[k], "background": background, "below": below,
        "above": above, "occluded": bool((above[..., 3] * stack[k][..., 3]).max() > 0), "target_index": k,
        "kind": sample.kinds[k], "prompt_type": kind, "prompt": values[kind], **values,
    }
