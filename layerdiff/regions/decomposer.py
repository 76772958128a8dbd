"""The region decomposer: the decomposition path of layerdiff-tiny for flat graphics.

1. segment the image (at most ``work_size`` px on its longest side) into flat-colour regions and
   build their enclosure tree (:func:`layerdiff.regions.graph.region_graph`);
2. the :class:`~layerdiff.models.region_layerer.RegionLayerer` predicts, for every pair of regions,
   "same layer" / "above" / "below", and for every region "background" (both orders averaged);
3. :func:`layerdiff.regions.solve.assign_layers` turns those into one layer per region; with an
   automatic count and a layerer that has a fragment test, proposed layers judged pieces of another
   layer join it (:func:`layerdiff.regions.fragments.absorb_fragments`); with an exact count, a small
   piece clinging to another layer gives its slot to one of two separate objects that share a layer
   (:func:`layerdiff.regions.fragments.spend_count_on_objects`);
4. each layer covers its regions, what they enclose and what layers above hide of them, with matted
   edges and push-pull filled hidden colours
   (:func:`layerdiff.regions.paint.paint_layers`); inputs larger than the work size are lifted
   to full resolution with exact recomposition;
5. with the ``text`` extra, regions inside one detected text line join one layer before painting
   (:func:`layerdiff.regions.text_lines.keep_lines_whole`); after painting, what each layer hides is
   completed from its own visible pixels and the layer over it unblended
   (:func:`layerdiff.regions.hidden.complete_hidden`: parametric fits for flat and gradient fills,
   push-pull otherwise; a background fitted as a repeating pattern keeps the fit), so no layer keeps a
   copy of what lies above it; the regions the background fit explains inside a line's box (a
   pattern's dots) are never its ink;
6. with the text extra, the ink of each line gets regions of its own before step 2, is never absorbed
   as a fragment, a line in its own colour left in its panel's layer becomes a layer of its own, and an
   object apart from a line in the line's layer gets a layer of its own below it
   (:mod:`layerdiff.regions.ink`);
7. a smooth model fitted to the background (:mod:`layerdiff.regions.background`; flat backgrounds
   only) takes what it does not explain out of the background before step 3 (an object cut by the
   canvas border, one close in colour to a gradient band, a tone-on-tone shape a few 8-bit steps off a
   smooth fill: :mod:`layerdiff.regions.faint`), gives the shadows and glows it does not
   explain to the layer they surround after painting, keeps the opacity of translucent layers on it,
   and is the background under every layer; regions that fill their convex hull are completed under
   the layers over them;
8. translucent panels over a repeating pattern (stripes, dots), found by the one blend they show it through
   (:mod:`layerdiff.regions.overlays`), stay out of the solver's count and come back as a layer each,
   just above the background, after completion; over a texture or a photo, translucent boxes found by
   their straight edges and the one blend across them (:mod:`layerdiff.regions.texture_panels`) are a
   layer each the same way (a layer the solver made of one is replaced);
9. a gradient fade or vignette of one colour over the whole background (:mod:`layerdiff.regions.fades`)
   is split off the background as a layer just above it: in an empty slot with an exact count (or, with
   none empty, in the slot of a speck, merged onto the layer under it), as one more layer with an automatic
   count; never over a photo background.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import numpy as np

from ..contract import Progress, check_num_layers, check_options, image_to_array, keep_bit_depth
from ..layered import LayeredImage
from ..registry import DEFAULT_MODEL
from .background import (
    explained_regions,
    fit_background,
    missed_pixels,
    objects_on_background,
    split_unexplained,
    translucent_layers,
    unexplained_regions,
)
from .config import RegionConfig
from .emoji_art import fill_under_drawing
from .fades import find_fade, split_fade
from .faint import faint_objects
from .features import PAIR_FEATURES, REGION_FEATURES, all_pairs, pair_features, region_features, swap_pairs
from .fragments import LAYER_FEATURES, absorb_fragments, spend_count_on_objects
from .graph import RegionGraph, graph_from_labels, region_graph
from .halos import attach_halos
from .hidden import complete_hidden
from .ink import carve_line_ink, lift_line_ink, line_ink, part_objects_from_lines
from .overlays import Panel, find_panels, insert_panels
from .paint import at_work_size, layer_masks, make_room, merge_speck, named_stack, paint_layers
from .photo import PhotoArea, find_photos, keep_photos_whole, photo_cover, split_at_outlines
from .segment import pixel_features
from .solve import assign_layers, canvas_background
from .text_lines import Box, LineReading, attach_text, keep_lines_whole, line_boxes
from .texture_panels import find_texture_panels, insert_texture_panels
from .translucent_art import translucent_shapes
from .vector_art import cut_under_layers

__all__ = ["RegionLayerDecomposer", "check_layerer", "predict_relations", "layerer_folder"]

T = TypeVar("T")


class Fitted(NamedTuple):
    """The accepted background fit of one image at the work size."""

    model: np.ndarray  # (h, w, 3) the fitted background colours
    flat: np.ndarray  # (h, w) bool, the pixels without texture
    panels: list[Panel]  # translucent panels over a repeating pattern, a layer each
    patterned: bool  # the fit is a repeating pattern (stripes, dots), not a smooth fill


def predict_relations(layerer: Any, graph: RegionGraph) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(same (n, n), above (n, n), background (n,)) probabilities of the regions of ``graph``.

    ``layerer``: a :class:`~layerdiff.models.region_layerer.RegionLayerer` or a
    :class:`~layerdiff.regions.runtime.NumpyRegionLayerer` (anything with ``pair_probabilities`` and
    ``background_probabilities``).
    """
    n = graph.count
    regional = region_features(graph)  # (n, R)
    pairs = all_pairs(n)  # (m, 2)
    same = np.eye(n)
    above = np.zeros((n, n))
    if len(pairs):
        fwd = pair_features(graph, pairs, regional)  # (m, P)
        bwd = swap_pairs(fwd)  # (m, P) the same pairs in the other order
        prob = np.asarray(layerer.pair_probabilities(fwd, bwd), np.float64)  # (m, 3)
        i, j = pairs[:, 0], pairs[:, 1]
        same[i, j] = same[j, i] = prob[:, 0]
        above[i, j], above[j, i] = prob[:, 1], prob[:, 2]
    return same, above, np.asarray(layerer.background_probabilities(regional), np.float64)


def check_layerer(layerer: Any) -> Any:
    """``layerer``, after checking that its configuration reads the features this engine computes
    (REGION_FEATURES, PAIR_FEATURES, and LAYER_FEATURES or 0 for the fragment test); one-line
    :class:`~layerdiff.errors.LayerdiffError` otherwise. Layerers without a ``config`` pass."""
    from ..errors import LayerdiffError

    config = getattr(layerer, "config", None)
    if config is None:
        return layerer
    widths = {"region_features": (REGION_FEATURES,), "pair_features": (PAIR_FEATURES,),
              "layer_features": (0, LAYER_FEATURES)}
    for key, allowed in widths.items():
        value = int(config.get(key, allowed[0]))
        if value not in allowed:
            raise LayerdiffError(f"region layerer: {key}={value} is not a width this engine computes "
                                 f"({' or '.join(map(str, allowed))})")
    return layerer


def layerer_folder(name_or_path: str | Path) -> tuple[Path, str, int]:
    """(layerer folder, model name, the model's layer limit) of a registry preset with a region layerer,
    a pipeline folder (its ``layerer/``) or a layerer folder, read as :func:`layerdiff.loader.resolve`
    reads them."""
    from ..errors import LayerdiffError
    from ..loader import resolve

    preset, source = resolve(name_or_path)
    path = source if isinstance(source, Path) else preset.weights_path()
    if not isinstance(source, Path) and ("layerer" not in preset.components or not isinstance(path, Path)):
        raise LayerdiffError(f"model {preset.name!r} has no region layerer weights on this machine")
    return (path / "layerer" if (path / "layerer").is_dir() else path), preset.name, preset.max_layers


def _in_background(read: Callable[[], T]) -> Callable[[], T]:
    """Start ``read`` (reading text lines: the OCR detector and recogniser release the GIL) in a background
    thread, so it runs while the image is segmented, and return the call that waits for its result.
    Without the OCR engine it runs here and now (its one-time warning comes from this thread)."""
    from ..text.ocr import ocr_available

    if not ocr_available():
        result = read()
        return lambda: result
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="layerdiff-ocr")
    future = pool.submit(read)
    pool.shutdown(wait=False)  # the thread ends with its one call
    return future.result


class RegionLayerDecomposer:
    """:class:`~layerdiff.contract.Decomposer` driven by a trained RegionLayerer (deterministic: ``seed`` is
    accepted and unused). Option: ``read_text`` (default True): with the ``text`` extra, each text layer
    gets its :class:`~layerdiff.text.TextInfo` and is named after its words
    (:func:`~layerdiff.regions.text_lines.attach_text`; metadata only, the pixels are the same)."""

    options: frozenset[str] = frozenset({"read_text"})
    vector_art: bool = True
    """Flat vector art on a transparent canvas: each paint a layer over the canvas and its largest paint
    (:func:`~layerdiff.regions.solve.canvas_background`), the bottom layer cut to what it shows and
    encloses (:func:`~layerdiff.regions.vector_art.cut_under_layers`); inside the canvas (an emoji), what
    the bottom layer hides is filled from its own paint, not the canvas
    (:func:`~layerdiff.regions.emoji_art.fill_under_drawing`); translucent shapes on a transparent canvas
    are read from the picture, one layer per shape
    (:func:`~layerdiff.regions.translucent_art.translucent_shapes`); False: as the layerer says."""
    panels: bool = True
    """Translucent panels over a repeating pattern (stripes, dots), found by the blend they show it through
    (:mod:`layerdiff.regions.overlays`), and translucent boxes over a texture or photo, found by their edges
    (:mod:`layerdiff.regions.texture_panels`), are a layer each just above the background; False: as the
    layerer says."""
    fades: bool = True
    """A gradient fade or vignette of one colour over the whole background is a layer of its own just above
    it (:mod:`layerdiff.regions.fades`); False: it stays in the background."""
    faint: bool = True
    """A shape of one colour a few 8-bit steps off a smooth background fill, with a step at its outline, is
    an object (:mod:`layerdiff.regions.faint`); False: it stays in the background."""
    photos: bool = True
    """Photographs found by their dense texture in a fitted rectangle or ellipse (or over the whole
    canvas) are kept whole, one layer or the background (:mod:`layerdiff.regions.photo`); False: as
    the layerer says."""

    def __init__(self, layerer: Any, config: RegionConfig | None = None, name: str = DEFAULT_MODEL,
                 max_layers: int = 8, merge_threshold: float = 0.3,
                 min_layer_area: float = 0.003, fragment_threshold: float = 0.7, keep_text: bool = True,
                 complete: bool = True, fit_background: bool = True, text_layers: bool = True) -> None:
        """``merge_threshold``: P(same layer) above which groups merge; ``min_layer_area``: with an automatic
        count, layers covering less than this fraction of the image are absorbed (see
        :func:`~layerdiff.regions.solve.assign_layers`); ``fragment_threshold``: with an automatic count,
        proposed layers whose fragment probability exceeds it join their partner (layerers with a
        fragment test only; 1.0 turns it off); ``keep_text``: keep each detected text line in one layer
        (:mod:`layerdiff.regions.text_lines`, needs the ``text`` extra); ``complete``: re-paint what each
        layer hides with :func:`layerdiff.regions.hidden.complete_hidden` (no copies of the layers above);
        ``fit_background``: fit a smooth model to the background (:mod:`layerdiff.regions.background`):
        regions and pieces of regions it does not explain leave the background, shadows and glows it does
        not explain join the layer they surround, translucent layers on it keep their opacity, and
        regions that fill their convex hull are completed under the layers over them; ``text_layers``
        (with ``keep_text``): the ink of each text line gets regions of its own before the layerer runs
        and a line in its own colour is a layer of its own (:mod:`layerdiff.regions.ink`)."""
        self.layerer = check_layerer(layerer).eval()
        self.config = config or RegionConfig()
        self.name = name
        self.max_layers = int(max_layers)
        self.merge_threshold = float(merge_threshold)
        if not 0.0 <= min_layer_area < 1.0:
            raise ValueError(f"min_layer_area must be a fraction in [0, 1), got {min_layer_area}")
        self.min_layer_area = float(min_layer_area)
        if not 0.0 <= fragment_threshold <= 1.0:
            raise ValueError(f"fragment_threshold must be a probability in [0, 1], got {fragment_threshold}")
        self.fragment_threshold = float(fragment_threshold)
        self.keep_text = bool(keep_text)
        self.complete = bool(complete)
        self.fit_background = bool(fit_background)
        self.text_layers = bool(text_layers)

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path = DEFAULT_MODEL, **kwargs: Any) -> RegionLayerDecomposer:
        """The layerer of a registry preset (its ``layerer/`` weights) or of a pipeline / layerer folder,
        run in NumPy (:class:`~layerdiff.regions.runtime.NumpyRegionLayerer`): no torch import."""
        from .runtime import NumpyRegionLayerer

        folder, name, max_layers = layerer_folder(name_or_path)
        kwargs.setdefault("max_layers", max_layers)
        return cls(NumpyRegionLayerer.from_pretrained(folder), name=name, **kwargs)

    def decompose(self, image: Any, num_layers: int | str = "auto", *, max_layers: int | None = None,
                  seed: int | None = None, callback: Progress | None = None, **options: Any) -> LayeredImage:
        """Split ``image`` (PIL image, (H, W, 3|4) array or LayeredImage) into layers, bottom to top.

        ``num_layers``: "auto" (the solver's count, at most ``max_layers``, default the model's limit) or
        an exact count (padded with empty layers on top when the image has fewer regions). The composite
        equals the input within half an 8-bit step.
        """
        reading = LineReading() if check_options(self, options).get("read_text", True) else None
        stack = self.decompose_stack(image, num_layers, max_layers, reading)
        if callback is not None:
            callback(1, 1)
        out = named_stack(stack, self.name, on_8bit_grid=True)
        del stack  # the float stack: the layers now hold it as uint8
        out = keep_bit_depth(out, image)  # a 16-bit input (uint16 array, 16-bit stack) gives 16-bit layers
        return attach_text(out, reading, image) if reading is not None else out

    def decompose_stack(self, image: Any, num_layers: int | str = "auto", max_layers: int | None = None,
                        reading: LineReading | None = None) -> np.ndarray:
        """:meth:`decompose` as an (L, H, W, 4) float32 array (no LayeredImage copies); ``reading``: filled
        with the text lines read at the work size."""
        wanted, cap = check_num_layers(num_layers, max_layers, self.max_layers, self.name)
        full, _ = image_to_array(image)  # (H, W, 4)
        stack = at_work_size(full, self.config.work_size,
                             lambda small: self.decompose_small(small, wanted, cap, reading))  # (L, H, W, 4)
        return fill_under_drawing(cut_under_layers(stack, full), full) if self.vector_art else stack

    def decompose_small(self, img: np.ndarray, wanted: int | None, max_layers: int,
                        reading: LineReading | None = None) -> np.ndarray:
        """Layers (K, h, w, 4) of an image (h, w, 4) at the work size; ``reading``: filled with the text
        lines read."""
        if wanted == 1:
            return img[None].copy()

        def read() -> list[Box] | None:  # the text lines
            return line_boxes(img, reading=reading) if self.keep_text or reading is not None else None

        lines = _in_background(read)
        graph = region_graph(img, self.config)
        found = lines()
        if self.vector_art:  # translucent shapes on a transparent canvas: read from the picture itself
            shapes = translucent_shapes(img, graph.regions.labels, wanted, max_layers)
            if shapes is not None:
                return shapes
        boxes = found if self.keep_text else None
        inked = bool(boxes) and self.text_layers
        if inked:
            graph = carve_line_ink(graph, boxes, self.config)
        areas = find_photos(img, boxes) if self.photos else []
        graph, same, _, bg, layer, fitted = self._propose(graph, wanted, max_layers, split=True, photos=areas)
        panels = fitted.panels if fitted is not None else []
        if panels:  # the solver's share of the count: the panels are layers of their own
            wanted = None if wanted is None else wanted - len(panels)
            max_layers -= len(panels)
        if wanted is None and getattr(self.layerer, "has_fragment_test", False) and layer.max() >= 2:
            ink = line_ink(graph, boxes, self.config.merge_delta_e) if inked else None  # (n,)
            if fitted is not None:  # on a smooth background, a compact object is a layer of its own
                placed = objects_on_background(graph, layer)  # (n,)
                ink = placed if ink is None else ink | placed
            layer = absorb_fragments(graph, same, bg, layer, self.layerer.fragment_probabilities,
                                     self.fragment_threshold, keep=ink)  # (n,)
        elif wanted is not None and getattr(self.layerer, "has_fragment_test", False) and layer.max() >= 2:
            ink = line_ink(graph, boxes, self.config.merge_delta_e) if inked else None  # (n,)
            layer = spend_count_on_objects(graph, same, bg, layer, self.layerer.fragment_probabilities,
                                           self.fragment_threshold, keep=ink)  # (n,)
        if inked:
            limit = wanted if wanted is not None else max_layers
            layer = lift_line_ink(graph, layer, boxes, self.config.merge_delta_e, limit)  # (n,)
            layer = part_objects_from_lines(graph, layer, boxes, self.config.merge_delta_e, limit)  # (n,)
        if boxes:
            explained = None if fitted is None else explained_regions(graph, fitted.model)  # (n,)
            graph, layer = keep_lines_whole(graph, layer, boxes, self.config.merge_delta_e, explained)  # (n,)
        stack = self.paint(img, graph, layer, wanted, areas)  # (K, h, w, 4)
        if fitted is not None:
            model, flat = fitted.model, fitted.flat  # (h, w, 3), (h, w)
            own = layer[graph.regions.labels][None] == np.arange(int(layer.max()) + 1)[:, None, None]  # (K, h, w)
            for panel in panels:
                own[0] &= ~panel.on  # a panel's pixels are neither halos nor background
            stack = attach_halos(stack, img[..., :3], own, model, flat)
            stack = translucent_layers(stack, img[..., :3], own, model)
            for panel in panels:  # the background shows the fit through a panel: completed from the fit
                stack[0, panel.on, :3] = model[panel.on]
        if self.complete:
            stack = complete_hidden(stack, img[..., :3], keep_background=fitted is not None and fitted.patterned)
        if panels:
            stack = insert_panels(stack, img[..., :3], fitted.model, panels)  # (K + P, h, w, 4)
        elif self.panels and fitted is None and (stack[0, ..., 3] >= 1.0).all():  # over a texture or a photo
            stack = insert_texture_panels(stack, img[..., :3], find_texture_panels(img[..., :3]), wanted is not None,
                                          max_layers)  # (K', h, w, 4)
        if not self.fades or any(area.background for area in areas):  # a photo's own light is no fade
            return stack
        return self._take_fade(stack, wanted is not None, max_layers + len(panels))

    def _take_fade(self, stack: np.ndarray, exact: bool, cap: int) -> np.ndarray:
        """``stack`` (K, h, w, 4) with a fade or vignette over its opaque background split off as a layer just
        above it (:func:`~layerdiff.regions.fades.find_fade`): in an empty slot with an exact count (the
        slot is the evidence a smooth background's fade may use), or, with no slot empty, in the slot of
        a speck (a layer under ``min_layer_area`` of the canvas, merged onto the layer under it; the fade
        then needs the evidence it needs with no slot), as one more layer under the cap with an automatic
        count."""
        if not (stack[0, ..., 3] >= 1.0).all():
            return stack
        room, spare = make_room(stack, exact, cap), exact  # (K - 1 | K, h, w, 4)
        if room is None and exact:
            room, spare = merge_speck(stack, self.min_layer_area), False  # (K - 1, h, w, 4)
        fade = None if room is None else find_fade(room[0, ..., :3], spare=spare)
        if fade is None:
            return stack
        base, top = split_fade(room[0], fade)  # (h, w, 4) each
        return np.concatenate([base[None], top[None], room[1:]], 0)  # (K | K + 1, h, w, 4)

    def _relations(self, graph: RegionGraph) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:func:`predict_relations` of ``graph``, then step 0 of the solver when ``vector_art`` is on."""
        same, above, bg = predict_relations(self.layerer, graph)
        if self.vector_art:
            same, bg = canvas_background(graph.regions, same, bg)
        return same, above, bg

    def propose(self, graph: RegionGraph, wanted: int | None = None, max_layers: int | None = None,
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Relations (same, above, background) of ``graph``'s regions and the layer of each region after
        steps 1-5 of the solver (before the fragment test); ``wanted``: exact count or None (automatic,
        at most ``max_layers``, default the decomposer's)."""
        return self._propose(graph, wanted, max_layers)[1:5]

    def _propose(self, graph: RegionGraph, wanted: int | None = None, max_layers: int | None = None,
                 split: bool = False, photos: list[PhotoArea] | None = None,
                 ) -> tuple[RegionGraph, np.ndarray, np.ndarray, np.ndarray, np.ndarray, Fitted | None]:
        """The graph, :meth:`propose`'s relations and layers, and the accepted background fit
        (:class:`Fitted`), or None (``fit_background`` off, a textured background (under 90% flat
        pixels: a photo) that is not a repeating pattern, or a background no model explains).
        Regions the fit does not explain are taken out of the background: P(background) and P(same
        layer) with the explained background regions set to 0. ``split``: pieces of background regions
        the fit misses first become regions of their own (a new graph, relations predicted again)."""
        if photos:
            graph = split_at_outlines(graph, photos, self.config) or graph
        same, above, bg = self._relations(graph)
        h, w = graph.regions.labels.shape
        model = None
        patterned = False  # the accepted fit is a repeating pattern
        panels: list[Panel] = []
        cap = self.max_layers if max_layers is None else max_layers
        if self.fit_background:
            in_bg = bg > 0.5  # (n,)
            area = graph.regions.area[in_bg]
            textured = (graph.regions.flat[in_bg] * area).sum() < 0.9 * area.sum()  # a photo or texture
            fit = fit_background(graph.image[..., :3], in_bg[graph.regions.labels], seed=self.config.seed,
                                 smooth=not textured)  # textured: a repeating pattern or nothing
            if fit is not None and fit.accepted:
                model = fit.render()  # (h, w, 3)
                patterned = fit.pattern is not None
                min_area = self.min_layer_area * h * w
                flat = graph.regions.flat_px  # (h, w)
                if flat is None:
                    flat = pixel_features(graph.image)[1] < self.config.flat_threshold
                missed = missed_pixels(graph.image[..., :3], model)  # (h, w)
                faint = np.zeros((h, w), bool)  # tone-on-tone shapes on a solid fill or a gradient
                if self.faint and fit.pattern is None:
                    faint = faint_objects(graph.image[..., :3], model, missed, flat, min_area)  # (h, w)
                    missed |= faint
                if self.panels and fit.pattern is not None:  # translucent panels over a pattern: layers
                    panels = find_panels(graph.image[..., :3], model)
                    panels = panels[:max(0, (cap if wanted is None else wanted) - 2)]
                    for panel in panels:
                        missed &= ~panel.on
                labels = split_unexplained(graph, in_bg, missed, flat, min_area=min_area) if split else None
                if labels is not None:
                    graph = graph_from_labels(graph.image, labels, self.config)
                    same, above, bg = self._relations(graph)
                    in_bg = bg > 0.5
                objects = unexplained_regions(graph, in_bg, missed, min_area=min_area, flat=flat)
                if panels:  # regions on a panel's blend line stay in the background until the panel is inserted
                    on = np.logical_or.reduce([panel.on for panel in panels])  # (h, w)
                    share = np.bincount(graph.regions.labels.ravel(), on.ravel(), minlength=graph.count)
                    bg = np.where(share > 0.8 * graph.regions.area, 1.0, bg)
                if len(objects):
                    bg = bg.copy()
                    same = same.copy()
                    bg[objects] = 0.0
                    rest = np.nonzero(in_bg)[0]
                    rest = rest[~np.isin(rest, objects)]
                    same[np.ix_(objects, rest)] = 0.0
                    same[np.ix_(rest, objects)] = 0.0
                if faint.any():  # a tone-on-tone shape shares its layer with no other region
                    lone = np.bincount(graph.regions.labels.ravel(), faint.ravel(), minlength=graph.count)
                    lone = lone > 0.6 * graph.regions.area  # (n,)
                    same = same.copy()
                    same[lone] = 0.0
                    same[:, lone] = 0.0
        if photos:
            same, above, bg = keep_photos_whole(same, above, bg, graph, photos)
        layer = assign_layers(same, above, bg, graph.regions.area, None if wanted is None else wanted - len(panels),
                              cap - len(panels), self.merge_threshold, self.min_layer_area * h * w)  # (n,)
        return graph, same, above, bg, layer, Fitted(model, flat, panels, patterned) if model is not None else None

    def paint(self, img: np.ndarray, graph: RegionGraph, layer: np.ndarray, wanted: int | None = None,
              photos: list[PhotoArea] | None = None) -> np.ndarray:
        """Layers (K, h, w, 4) of ``img`` (h, w, 4) from a layer index (n,) per region of ``graph``;
        ``photos``: the layer of a placed photo covers its outline."""
        count = int(layer.max()) + 1
        cover, own = layer_masks(graph, layer, count, convex=self.fit_background)
        if photos:
            cover = photo_cover(cover, own, photos)
        return paint_layers(img[..., :3], cover, own, self.config.matte_radius, wanted)
