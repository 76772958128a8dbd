"""Referring extraction with the region layerer: the object named by points, a box, a mask or a phrase.

The task of RefLade / RefLayer (referring layer decomposition): from one image and a prompt, the
referred object as a complete RGBA layer plus the rest with the hole filled. Here it runs on the
region graph (:mod:`layerdiff.regions.graph`):

1. seed regions from the prompt (at the work size): the regions under positive points; the regions
   mostly inside the mask; the regions mostly inside the box's GrabCut-like colour-model cut-out
   (:func:`layerdiff.regions.prompts.box_region`, Rother et al. 2004); for a phrase, the regions
   whose colour is the named vocabulary colour;
2. grow the seed with the learned relations: a region joins while its average P(same layer) with the
   object exceeds 1/2 (so a multi-colour icon or a word comes out whole); regions under negative
   points, and those closer to them than to the object, are removed;
3. the object covers its regions (and a mask prompt's pixels), what they enclose, and the hidden parts
   of its convex hull under the regions the layerer puts above it (amodal completion); the rest is
   everything else, its hidden colours filled (:func:`layerdiff.regions.paint.paint_layers`);
   exact recomposition makes the pair composite to the input.

Several prompts peel the image: each is extracted from the previous rest, front objects first
(``order="auto"``: by the layerer's "above" relations between the objects' regions on the input).

With the ``text`` extra (option ``read_text``, default True), an extracted object whose pixels are text
gets its :class:`~layerdiff.text.TextInfo` (wording, font, size, colour) and is named after its words: the
recogniser reads the input around the object's ink only, and
:func:`~layerdiff.text.annotate_text_layers` matches the lines with the object's own pixels.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..contract import check_options, image_to_array, keep_bit_depth
from ..layered import Layer, LayeredImage
from ..recompose import project_residual
from ..referring import ReferringPrompt, as_prompts, mask_map
from ..registry import DEFAULT_MODEL
from .config import RegionConfig
from .decomposer import check_layerer, layerer_folder, predict_relations
from .graph import RegionGraph, region_graph
from .paint import at_work_size, layer_masks, paint_layers, shrink_to
from .prompts import box_region, phrase_colour
from .segment import rgb_to_lab

__all__ = ["RegionReferrer", "object_regions", "ORDERS"]

ORDERS = ("auto", "given")
BOX_TOLERANCE = 12.0  # CIE76 distance separating the box's colour models (as the floodfill extractor's)


def _mean_link(same: np.ndarray, weight: np.ndarray, members: np.ndarray) -> np.ndarray:
    """(n,) weighted mean P(same) of every region with the regions in ``members`` (bool (n,))."""
    w = weight[:, members]  # (n, k)
    total = w.sum(1)
    return np.divide((same[:, members] * w).sum(1), total, out=np.zeros(len(total)), where=total > 0)


def _region_at(labels: np.ndarray, x: float, y: float) -> int:
    h, w = labels.shape
    return int(labels[min(max(int(y), 0), h - 1), min(max(int(x), 0), w - 1)])


def object_regions(graph: RegionGraph, same: np.ndarray, background: np.ndarray, prompt: ReferringPrompt,
                   colour_tolerance: float = 24.0) -> np.ndarray:
    """The regions (bool (n,)) of the object a prompt (in pixels of ``graph.image``) refers to.

    ``same`` (n, n) and ``background`` (n,) are the layerer's probabilities. Empty when the prompt
    refers to nothing (a phrase without a known colour, or one no region has).
    """
    r = graph.regions
    labels = r.labels
    h, w = labels.shape
    n = r.count
    area = np.maximum(r.area, 1.0)
    weight = np.sqrt(np.outer(area, area))  # (n, n)
    not_bg = background < 0.5
    seed = np.zeros(n, bool)
    allowed = np.ones(n, bool)  # where growth may go
    for x, y in prompt.positive_points:
        seed[_region_at(labels, x, y)] = True
    root = int(np.argmax(r.area))
    if prompt.mask is not None:  # the object's visible pixels: every region mostly inside is the object
        mask = mask_map(prompt.mask, h, w) > 0.5
        inside = np.bincount(labels[mask].ravel(), minlength=n) / area  # (n,) share inside
        seed |= inside >= 0.5
        allowed &= inside >= 0.5  # the mask is all that is visible of the object: nothing outside joins
    if prompt.box is not None:  # around the object: the regions mostly inside its colour-model cut-out
        x0, y0, x1, y1 = prompt.box
        box = np.zeros((h, w), bool)
        box[int(y0): max(int(y0) + 1, int(np.ceil(y1))), int(x0): max(int(x0) + 1, int(np.ceil(x1)))] = True
        inside = np.bincount(labels[box].ravel(), minlength=n) / area
        candidates = inside >= 0.6
        cut = box_region(rgb_to_lab(graph.image[..., :3]), prompt.box, BOX_TOLERANCE)  # (h, w) GrabCut-like
        found = candidates & (np.bincount(labels[cut].ravel(), minlength=n) / area >= 0.5)
        if not found.any():  # no colour model separates it: the non-background regions inside
            found = candidates & not_bg
        if not found.any():  # everything inside looks like background: all but the image's largest region
            found = candidates & (np.arange(n) != root)
        if not found.any() and candidates.any():
            found[np.argmax(np.where(candidates, r.area, -1))] = True
        seed |= found
        allowed &= inside >= 0.3
    if prompt.text and not seed.any():
        found = phrase_colour(prompt.text)
        if found is not None:
            target = rgb_to_lab(found[1])  # (3,)
            close = np.linalg.norm(r.colour[:, :3] - target, axis=-1) < colour_tolerance
            seed |= close & not_bg if (close & not_bg).any() else close & (np.arange(n) != root)
    if not seed.any():
        return seed
    negative = np.zeros(n, bool)
    for x, y in prompt.negative_points:
        negative[_region_at(labels, x, y)] = True
    seed &= ~negative
    group = seed.copy()
    grow_bg = bool((~not_bg[seed]).any())
    for _ in range(n):
        link = _mean_link(same, weight, group)
        join = ~group & allowed & ~negative & (link > 0.5) & (not_bg | grow_bg)
        if not join.any():
            break
        group |= join
    if negative.any():
        group &= ~(_mean_link(same, weight, negative) > _mean_link(same, weight, group)) | seed
    return group


class RegionReferrer:
    """:class:`~layerdiff.contract.Extractor` driven by a trained RegionLayerer (see the module docstring).
    Options: ``order`` ("auto" or "given"), ``read_text`` (True or False, default True)."""

    options: frozenset[str] = frozenset({"order", "read_text"})

    def __init__(self, layerer: Any, config: RegionConfig | None = None, name: str = DEFAULT_MODEL) -> None:
        self.layerer = check_layerer(layerer).eval()
        self.config = config or RegionConfig()
        self.name = name

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path = DEFAULT_MODEL, **kwargs: Any) -> RegionReferrer:
        """The layerer of a registry preset or of a pipeline / layerer folder, run in NumPy (no torch)."""
        from .runtime import NumpyRegionLayerer

        folder, name, _ = layerer_folder(name_or_path)
        return cls(NumpyRegionLayerer.from_pretrained(folder), name=name, **kwargs)

    def _relations(self, img: np.ndarray) -> tuple[RegionGraph, np.ndarray, np.ndarray, np.ndarray]:
        graph = region_graph(img, self.config)
        return (graph, *predict_relations(self.layerer, graph))

    def extract_pair(self, img: np.ndarray, prompt: ReferringPrompt,
                     relations: tuple[RegionGraph, np.ndarray, np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """[rest, object] (2, h, w, 4) of an image (h, w, 4) at the work size; prompt in its pixels.
        ``relations``: the region graph and layerer probabilities of ``img`` when already computed."""
        graph, same, above, bg = relations or self._relations(img)
        group = object_regions(graph, same, bg, prompt)
        h, w = img.shape[:2]
        if not group.any():
            empty = np.zeros((h, w, 4), np.float32)
            empty[..., :3] = img[..., :3]
            return np.stack([img, empty])
        r = graph.regions
        over = _mean_link(above, np.sqrt(np.outer(r.area, r.area)), group)  # (n,) P(region above the object)
        layer = np.where(group, 1, np.where(over > 0.5, 2, 0))
        cover, own = layer_masks(graph, layer, 3)
        if prompt.mask is not None:  # the given visible pixels belong to the object whatever the regions say
            given = mask_map(prompt.mask, h, w) > 0.5
            cover[1] |= given
            own[1] |= given
            own[0] &= ~given
        return paint_layers(img[..., :3], cover[:2], own[:2], self.config.matte_radius)

    def _front_first(self, relations: tuple[RegionGraph, np.ndarray, np.ndarray, np.ndarray],
                     prompts: list[ReferringPrompt]) -> list[int]:
        """Prompt indices, the object the layerer puts on top first (Borda count of pairwise "above")."""
        graph, same, above, bg = relations
        groups = [object_regions(graph, same, bg, p) for p in prompts]
        area = graph.regions.area
        score = np.zeros(len(prompts))
        for a, ga in enumerate(groups):
            for b, gb in enumerate(groups):
                if a != b and ga.any() and gb.any():
                    wgt = np.sqrt(np.outer(area[ga], area[gb]))
                    score[a] += float((above[np.ix_(ga, gb)] * wgt).sum() / wgt.sum()) - 0.5
        return [int(i) for i in np.argsort(-score, kind="stable")]

    def extract(self, image: Any, prompts: ReferringPrompt | str | list, *, seed: int | None = None,
                order: str = "auto", **options: Any) -> LayeredImage:
        """Extract one object per prompt: a :class:`LayeredImage` [background (filled), objects...].

        The first extracted object ends on top; every stage recomposes to its input within 1/255.
        ``seed`` is accepted for the extractor interface; the method is deterministic. ``read_text``
        (option, default True): objects that are text carry their :class:`~layerdiff.text.TextInfo`.
        """
        read_text = bool(check_options(self, options).get("read_text", True))
        if order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
        rgba, _ = image_to_array(image)  # (H, W, 4)
        height, width = rgba.shape[:2]
        items = [p.in_pixels((width, height)) for p in as_prompts(prompts)]
        small = shrink_to(rgba, self.config.work_size)  # (h, w, 4)
        scaled = [_scaled(p, small.shape[1] / width) for p in items]  # prompts in work-size pixels
        sequence = list(range(len(items)))
        first = None  # relations of the input, reused by the first extraction
        if order == "auto" and len(items) > 1:
            first = self._relations(small)
            sequence = self._front_first(first, scaled)
        current = rgba
        objects: list[tuple[int, np.ndarray]] = []
        for step, i in enumerate(sequence):
            known = first if step == 0 else None
            pair = at_work_size(current, self.config.work_size,
                                lambda im, p=scaled[i], k=known: self.extract_pair(im, p, k))
            objects.append((i, pair[1]))
            current = pair[0]
        stack = np.stack([current] + [obj for _, obj in objects[::-1]])  # (P + 1, H, W, 4)
        if len(objects) > 1:
            stack = project_residual(stack, rgba)
        layers = [Layer(stack[0], name="Background")]
        for k, (i, _) in enumerate(objects[::-1]):
            layers.append(Layer(stack[k + 1], name=items[i].describe(),
                                metadata={"prompt": items[i].describe(), "prompt_index": i}))
        out = LayeredImage((width, height), layers, metadata={"extractor": self.name,
                                                             "extraction_order": [i for i, _ in objects]})
        out = keep_bit_depth(out, image)  # a 16-bit input (uint16 array, 16-bit stack) gives 16-bit layers
        if not read_text:
            return out
        from ..text.detect import read_object_text

        return read_object_text(out, rgba)


def _scaled(prompt: ReferringPrompt, scale: float) -> ReferringPrompt:
    """A pixel-coordinate prompt on an image scaled by ``scale`` (points and box; masks are resampled
    by :func:`object_regions` itself)."""
    if scale >= 1.0:
        return prompt
    points = [(x * scale, y * scale, label) for x, y, label in prompt.points]
    box = None if prompt.box is None else tuple(v * scale for v in prompt.box)
    return replace(prompt, points=points, box=box)
