"""The ink of detected text lines, before the layerer judges the regions.

Strokes of small or thin text are a few pixels wide: most of their pixels are edge pixels, which the
segmentation gives to the nearest flat region within 2 px (usually the panel around the text), and
letters under the smallest region size are not regions at all. The line then has no region of its
own, and no later step can lift it out of its panel. With the PP-OCRv4 line boxes
(:func:`layerdiff.regions.text_lines.line_boxes`):

- :func:`carve_line_ink`: inside each box, pixels labelled as the region that surrounds the line (the
  main region of a 3-px frame around the box, when that frame is uniform) but more than ``delta_e``
  (CIE76) from its colour are ink: within 3 px of a letter region (a region of the line in a colour of
  its own) they join it, the others make one new region per line; whatever the frame, pixels inside the
  box of a region lying half to 90% inside it in the colour of the line's ink, each within ``delta_e`` of
  that colour (a letter the segmentation joined with like-coloured pixels just outside the box: dark text
  over dark hair in a photo), make one more new region per line; and when the frame is a photo or a
  texture (not a gradient; a smooth frame no plane fits counts unless its regions are uniform fills),
  pixels near the letters' fill colour that are not in a letter region, in letter-sized pieces that
  stay inside the box grown for serifs, make one more (letters the segmentation merged into the picture);
  and when none of the letters is a region (a photo of small regions all round), the pixels in the one
  colour of the box that the frame lacks make the line's region (:func:`_photo_ink`);
- :func:`line_ink`: the regions that are a line's ink (inside its box, in a colour of their own, not a
  counter whose mean colour the letters' edges darken),
  which the fragment test keeps as a layer (:func:`layerdiff.regions.fragments.absorb_fragments`);
- :func:`lift_line_ink`: a line whose ink the solver left (mostly) in the layer of its surroundings (over
  a photo: the layer most of its frame is in) becomes a layer of its own, just above them (a subtitle in
  its own colour on a panel is a layer a designer made);
- :func:`part_objects_from_lines`: an object apart from a line in the line's layer (a pepper beside
  "FRESH") gets a layer of its own, just below the line's.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .config import RegionConfig
from .fragments import layer_pieces
from .graph import RegionGraph, graph_from_labels
from .segment import rgb_to_lab
from .text_lines import showing_through

__all__ = ["carve_line_ink", "line_ink", "lift_line_ink", "part_objects_from_lines"]

Box = tuple[int, int, int, int]
_FRAME = 3  # width (px) of the frame around a box that samples the line's surroundings
_MAJOR = 0.15  # share of the frame that makes a region part of the surroundings
_UNIFORM = 4.0  # largest RMS colour deviation (Lab) of a uniform frame
_JOIN = 3.0  # ink pixels within this distance (px) of a letter region join it
_ROUGH = 3.0  # mean Lab step between neighbouring frame pixels above which the frame is a photo or texture
_CURVED = 10.0  # RMS error (Lab) of a plane fit to the frame above which a smooth frame is a photo
_SPREAD = 2.0  # least mean colour spread (Lab) of the frame's regions for that: flat fills are not a photo
_TIGHT = 6.0  # largest colour distance (Lab) from a line's fill colour of a loose letter pixel
_MARGIN = 0.15  # share of a line's height by which its box grows to take in letters sticking out of it
_SPECK = 0.25  # share of the smallest letter's area under which a loose piece is a speck
_INKED = 0.03  # least share of a box the letters cover (over a photo, found by their colour alone)
_RARE = 0.02  # most share of a photo frame's pixels near a region's colour for the region to be ink
_STRADDLE = 0.5  # least share of a region inside a line's box for its ink-coloured pixels there to be ink


def _clip(box: Box, h: int, w: int) -> Box | None:
    x0, y0, x1, y1 = max(box[0], 0), max(box[1], 0), min(box[2], w), min(box[3], h)
    return (x0, y0, x1, y1) if x1 - x0 >= 2 and y1 - y0 >= 2 else None


def _frame(labels: np.ndarray, box: Box) -> tuple[tuple[slice, slice], np.ndarray]:
    """The slice of the box grown by the frame width and the frame mask inside it."""
    h, w = labels.shape
    x0, y0, x1, y1 = box
    fy0, fx0, fy1, fx1 = max(y0 - _FRAME, 0), max(x0 - _FRAME, 0), min(y1 + _FRAME, h), min(x1 + _FRAME, w)
    frame = np.ones((fy1 - fy0, fx1 - fx0), bool)
    frame[y0 - fy0:y1 - fy0, x0 - fx0:x1 - fx0] = False
    return (slice(fy0, fy1), slice(fx0, fx1)), frame


def carve_line_ink(graph: RegionGraph, boxes: list[Box], config: RegionConfig | None = None,
                   ) -> RegionGraph:
    """``graph``, or a new graph of the same image whose labels give the ink pixels of each line in
    ``boxes`` (x0, y0, x1, y1, end-exclusive) their own regions (module docstring); ``config``'s
    ``merge_delta_e`` is the colour distance that makes a pixel ink."""
    cfg = config or RegionConfig()
    labels = graph.regions.labels
    h, w = labels.shape
    lab: np.ndarray | None = None
    out = labels
    next_id = graph.count
    for raw in boxes:
        box = _clip(raw, h, w)
        if box is None:
            continue
        grown, frame = _frame(labels, box)
        frame_labels = labels[grown][frame]
        if not len(frame_labels):
            continue
        base = int(np.bincount(frame_labels).argmax())
        if lab is None:
            lab = rgb_to_lab(graph.image[..., :3])  # (h, w, 3)
        ring = lab[grown][frame][frame_labels == base]  # (m, 3) the surroundings' colours
        ref = np.median(ring, axis=0)  # (3,)
        x0, y0, x1, y1 = box
        found = _ink_and_base(graph, box, cfg.merge_delta_e)
        if found is not None and len(found[0]) and found[1] >= 0:  # letters merged with pixels outside the box
            split = _straddling_ink(graph, lab, box, found, cfg.merge_delta_e)
            if split.any():
                if out is labels:
                    out = labels.copy()
                out[y0:y1, x0:x1][split] = next_id
                next_id += 1
        if np.sqrt(((ring - ref) ** 2).sum(-1).mean()) > _UNIFORM:  # text over a photo or a texture
            if _textured(lab[grown], frame, graph.regions.spread[labels[grown][frame]]):
                if found is None or not len(found[0]):  # every letter merged into the picture
                    where, loose = _photo_ink(lab, box, lab[grown][frame], cfg.merge_delta_e)
                else:  # some letters merged into the picture
                    where, loose = _loose_ink(graph, lab, box, found[0], cfg.merge_delta_e)
                loose &= out[where] == labels[where]  # (gh, gw) not carved above
                if loose.any():
                    if out is labels:
                        out = labels.copy()
                    out[where][loose] = next_id
                    next_id += 1
            continue
        inside = labels[y0:y1, x0:x1] == base  # (bh, bw)
        carved = inside & (np.linalg.norm(lab[y0:y1, x0:x1] - ref, axis=-1) > cfg.merge_delta_e)
        if not carved.any():
            continue
        if out is labels:
            out = labels.copy()
        crop = out[y0:y1, x0:x1]  # (bh, bw) view
        letters = np.isin(labels[y0:y1, x0:x1], found[0]) if found is not None else np.zeros_like(carved)
        if letters.any():  # next to a letter region: part of that letter
            dist, (iy, ix) = ndimage.distance_transform_edt(~letters, return_indices=True)
            near = carved & (dist <= _JOIN)
            crop[near] = labels[y0:y1, x0:x1][iy[near], ix[near]]
            carved &= ~near
        if carved.any():  # the rest of the line's ink: one region
            crop[carved] = next_id
            next_id += 1
    if out is labels:
        return graph
    return graph_from_labels(graph.image, out, cfg)


def _straddling_ink(graph: RegionGraph, lab: np.ndarray, box: Box, found: tuple[np.ndarray, int],
                    delta_e: float) -> np.ndarray:
    """(bh, bw) bool: the pixels inside ``box`` of regions that lie between ``_STRADDLE`` and 90% inside it
    in the colour of the line's main ink (``found``: its ink regions and main surrounding region), each
    pixel within ``delta_e`` (CIE76, ``lab`` (h, w, 3)) of that colour and farther from the surroundings'
    colour: a letter the segmentation joined with like-coloured pixels just outside the box (dark text
    over dark hair in a photo)."""
    r = graph.regions
    ink, base = found
    x0, y0, x1, y1 = box
    crop = r.labels[y0:y1, x0:x1]  # (bh, bw)
    inside = np.bincount(crop.ravel(), minlength=r.count) / np.maximum(r.area, 1.0)  # (n,)
    main = r.colour[ink[np.argmax(r.area[ink])], :3]  # (3,) the line's ink colour
    near_ink = np.linalg.norm(r.colour[:, :3] - main, axis=-1) < delta_e  # (n,)
    far_base = np.linalg.norm(r.colour[:, :3] - r.colour[base, :3], axis=-1) > delta_e  # (n,)
    straddle = np.nonzero((inside >= _STRADDLE) & (inside < 0.9) & near_ink & far_base)[0]
    if not len(straddle):
        return np.zeros(crop.shape, bool)
    px = lab[y0:y1, x0:x1]  # (bh, bw, 3)
    close = np.linalg.norm(px - main, axis=-1) < np.minimum(
        delta_e, np.linalg.norm(px - r.colour[base, :3], axis=-1))  # (bh, bw)
    return np.isin(crop, straddle) & close


def _textured(lab: np.ndarray, frame: np.ndarray, spread: np.ndarray) -> bool:
    """Whether the frame ``frame`` (h, w) bool of a box's surroundings ``lab`` (h, w, 3) is a photo or a
    texture, not a gradient: neighbouring frame pixels differ by more than ``_ROUGH`` (CIE76) on average (a
    gradient changes by a fraction of a unit per pixel), or a plane in x and y fits the frame's colours
    with an RMS error above ``_CURVED`` while the regions under the frame are not uniform fills (``spread``
    (m,): the colour spread of each frame pixel's region, mean of the finite ones at least ``_SPREAD``): a
    smooth photo (clouds, a blurred backdrop), not the flat fields of a flag."""
    pairs = frame[:, 1:] & frame[:, :-1]  # (h, w - 1) horizontal neighbours both in the frame
    if not pairs.any():
        return False
    if float(np.linalg.norm(np.diff(lab, axis=1), axis=-1)[pairs].mean()) > _ROUGH:
        return True
    spread = spread[np.isfinite(spread)]
    if not len(spread) or float(spread.mean()) < _SPREAD:
        return False
    yy, xx = np.nonzero(frame)  # (m,)
    h, w = frame.shape
    design = np.stack([np.ones(len(xx)), xx / w, yy / h], axis=1)  # (m, 3)
    ring = lab[frame]  # (m, 3)
    coef, *_ = np.linalg.lstsq(design, ring, rcond=None)  # (3, 3)
    return float(np.sqrt(((ring - design @ coef) ** 2).sum(-1).mean())) > _CURVED


def _fill_colour(px: np.ndarray) -> np.ndarray:
    """(3,) the most common colour of ``px`` (m, 3) Lab, in bins of 2 units: a letter's fill, which its
    region's mean (pulled by the anti-aliased edges) misses."""
    bins = np.round(px / 2.0).astype(np.int64)  # (m, 3)
    _, inverse, counts = np.unique(bins, axis=0, return_inverse=True, return_counts=True)
    return px[inverse.ravel() == counts.argmax()].mean(0)


def _loose_ink(graph: RegionGraph, lab: np.ndarray, box: Box, ink: np.ndarray, delta_e: float,
               ) -> tuple[tuple[slice, slice], np.ndarray]:
    """(the slice of ``box`` grown by ``_MARGIN`` of its height, (gh, gw) bool in it): pixels within
    ``_TIGHT`` (CIE76, ``lab`` (h, w, 3)) of the fill colour of the line's letter regions (``ink`` regions
    within ``delta_e`` of the largest one's colour) that are not in one, in connected pieces (with the
    letters they touch) that stay inside the grown box, lie mostly inside the box and hold at least
    ``_SPECK`` of the smallest letter's area of such pixels: letters of a line over a photo or a texture
    that the segmentation merged into the picture (dark letters on dark plank gaps, purple letters on
    purple clouds). The grown box takes in serifs that stick out of the detector's box; a piece that
    reaches its edge is the picture's, not the line's."""
    r = graph.regions
    h, w = r.labels.shape
    x0, y0, x1, y1 = box
    pad = max(_FRAME, int(round(_MARGIN * (y1 - y0))))
    gy, gx = slice(max(y0 - pad, 0), min(y1 + pad, h)), slice(max(x0 - pad, 0), min(x1 + pad, w))
    crop = r.labels[gy, gx]  # (gh, gw)
    in_box = np.zeros(crop.shape, bool)
    in_box[y0 - gy.start:y1 - gy.start, x0 - gx.start:x1 - gx.start] = True
    main = r.colour[ink[np.argmax(r.area[ink])], :3]  # (3,)
    letters = ink[np.linalg.norm(r.colour[ink, :3] - main, axis=-1) < delta_e]
    is_letter = np.isin(crop, letters)  # (gh, gw)
    fill = _fill_colour(lab[gy, gx][is_letter & in_box])  # (3,)
    loose = (np.linalg.norm(lab[gy, gx] - fill, axis=-1) < min(_TIGHT, delta_e)) & ~is_letter  # (gh, gw)
    if not loose.any():
        return (gy, gx), loose
    pieces, num = ndimage.label(loose | is_letter, np.ones((3, 3), bool))  # (gh, gw)
    drop = np.zeros(num + 1, bool)
    drop[np.concatenate([pieces[0], pieces[-1], pieces[:, 0], pieces[:, -1]])] = True
    drop[0] = True
    new = np.bincount(pieces[loose], minlength=num + 1)  # (num + 1,) loose pixels of each piece
    inside = np.bincount(pieces[loose & in_box], minlength=num + 1)  # (num + 1,) of them inside the box
    drop |= (new < _SPECK * r.area[letters].min()) | (inside < 0.5 * new)  # a speck, or the picture's
    return (gy, gx), loose & ~drop[pieces]


def _ink_over_photo(graph: RegionGraph, inside: np.ndarray, grown: tuple[slice, slice], frame: np.ndarray,
                    delta_e: float) -> np.ndarray:
    """The ink regions among the regions ``inside`` a box whose frame (``frame`` (gh, gw) in the slice
    ``grown``) is a photo: those whose colour at most ``_RARE`` of the frame's pixels come within
    ``delta_e`` (CIE76) of, in the colour of the largest of them (a line is one colour)."""
    r = graph.regions
    ring = rgb_to_lab(graph.image[grown][..., :3][frame])  # (m, 3) the frame's colours
    near = np.linalg.norm(r.colour[inside, None, :3] - ring[None], axis=-1) < delta_e  # (k, m)
    rare = inside[near.mean(1) <= _RARE]
    if not len(rare):
        return rare
    main = r.colour[rare[np.argmax(r.area[rare])], :3]
    return rare[np.linalg.norm(r.colour[rare, :3] - main, axis=-1) < delta_e]


def _photo_ink(lab: np.ndarray, box: Box, ring: np.ndarray, delta_e: float,
               ) -> tuple[tuple[slice, slice], np.ndarray]:
    """(the slice of ``box`` grown by ``_MARGIN`` of its height, (gh, gw) bool in it): the letters of a line
    over a photo none of whose letters is a region: pixels within ``_TIGHT`` (CIE76, ``lab`` (h, w, 3)) of
    the fill colour (:func:`_fill_colour`) of the box's pixels whose colour at most ``_RARE`` of the
    frame's pixels ``ring`` (m, 3) come within that distance of, in connected pieces that stay inside the
    grown box and mostly inside the box; nothing when they cover under ``_INKED`` of the box."""
    h, w = lab.shape[:2]
    x0, y0, x1, y1 = box
    pad = max(_FRAME, int(round(_MARGIN * (y1 - y0))))
    gy, gx = slice(max(y0 - pad, 0), min(y1 + pad, h)), slice(max(x0 - pad, 0), min(x1 + pad, w))
    crop = lab[gy, gx]  # (gh, gw, 3)
    in_box = np.zeros(crop.shape[:2], bool)
    in_box[y0 - gy.start:y1 - gy.start, x0 - gx.start:x1 - gx.start] = True
    px = crop[in_box]  # (k, 3)
    step = max(1, len(ring) // 400)  # a sample of the frame is enough to tell a rare colour
    near = (np.linalg.norm(px[:, None] - ring[None, ::step], axis=-1) < min(_TIGHT, delta_e)).mean(1)  # (k,)
    none = np.zeros(in_box.shape, bool)
    if (near <= _RARE).sum() < _INKED * len(px):
        return (gy, gx), none
    fill = _fill_colour(px[near <= _RARE])  # (3,)
    ink = np.linalg.norm(crop - fill, axis=-1) < min(_TIGHT, delta_e)  # (gh, gw)
    pieces, num = ndimage.label(ink, np.ones((3, 3), bool))
    drop = np.zeros(num + 1, bool)
    drop[np.concatenate([pieces[0], pieces[-1], pieces[:, 0], pieces[:, -1]])] = True  # the picture's
    drop[0] = True
    total = np.bincount(pieces.ravel(), minlength=num + 1)
    inside = np.bincount(pieces[in_box], minlength=num + 1)
    drop |= inside < 0.5 * total
    out = ink & ~drop[pieces]
    return (gy, gx), out if out[in_box].sum() >= _INKED * in_box.sum() else none


def _ink_and_base(graph: RegionGraph, box: Box, delta_e: float) -> tuple[np.ndarray, int] | None:
    """The ink regions of one clipped ``box`` and the main region of its frame (-1 for a frame of many
    small regions, a photo: :func:`_ink_over_photo`), or None."""
    r = graph.regions
    labels = r.labels
    n = r.count
    x0, y0, x1, y1 = box
    inside = np.nonzero(np.bincount(labels[y0:y1, x0:x1].ravel(), minlength=n) >= 0.9 * r.area)[0]
    grown, frame = _frame(labels, box)
    frame_px = np.bincount(labels[grown][frame], minlength=n)  # (n,)
    if not len(inside) or not frame_px.sum():
        return None
    around = np.nonzero(frame_px >= _MAJOR * frame_px.sum())[0]
    if not len(around):  # a frame of many small regions (a photo): ink is in a colour the frame lacks
        return _ink_over_photo(graph, inside, grown, frame, delta_e), -1
    dist = np.linalg.norm(r.colour[inside, None, :3] - r.colour[None, around, :3], axis=-1)  # (k, a)
    ink = inside[dist.min(1) > delta_e]
    base = int(frame_px.argmax())
    if len(ink) > 1:  # counters showing the surroundings through the letters' edges are not ink
        main = ink[np.argmax(r.area[ink])]
        ink = ink[~showing_through(r.colour[ink, :3], r.colour[base, :3], r.colour[main, :3], delta_e)]
    return ink, base


def lift_line_ink(graph: RegionGraph, layer: np.ndarray, boxes: list[Box], delta_e: float = 10.0,
                  max_count: int | None = None) -> np.ndarray:
    """The layer (n,) of every region after giving each line of ``boxes`` whose ink (:func:`line_ink`)
    lies mostly (by area) in the layer of the line's surroundings, none of it above, a new layer just
    above that one (later layers move up by one); at most ``max_count`` layers in all (None: no
    limit)."""
    out = np.asarray(layer, np.int64).copy()
    h, w = graph.regions.labels.shape
    for raw in boxes:
        box = _clip(raw, h, w)
        found = _ink_and_base(graph, box, delta_e) if box is not None else None
        if found is None or not len(found[0]):
            continue
        ink, base = found
        if base >= 0:
            under = out[base]
        else:  # over a photo: the layer most of the frame is in
            grown, frame = _frame(graph.regions.labels, box)
            under = int(np.bincount(out[graph.regions.labels[grown][frame]]).argmax())
        area = graph.regions.area[ink]
        if area[out[ink] == under].sum() < 0.5 * area.sum() or (out[ink] > under).any() or (
                max_count is not None and out.max() + 1 >= max_count):
            continue
        out[out > under] += 1
        out[ink] = under + 1
    return out


def part_objects_from_lines(graph: RegionGraph, layer: np.ndarray, boxes: list[Box], delta_e: float = 10.0,
                            max_count: int | None = None, gap: int = 6, min_object: float = 0.003) -> np.ndarray:
    """The layer (n,) of every region after giving each object that shares a layer with a text line, apart
    from it, a layer of its own just below the line's: in a layer holding the ink of a line of ``boxes``
    (:func:`line_ink`), a piece of its pixels more than ``gap`` px from the rest that holds no ink, covers
    at least ``min_object`` of the canvas and is not mostly (by area) within ``delta_e`` (CIE76) of the
    ink's colour (a pepper beside "FRESH", not the end of a line the detector cut short); at most
    ``max_count`` layers in all (None: no limit). A line's letters, its outline and its shadow touch it
    and stay."""
    out = np.asarray(layer, np.int64).copy()
    ink = line_ink(graph, boxes, delta_e)  # (n,)
    if not ink.any():
        return out
    r = graph.regions
    first = np.unique(r.labels.ravel(), return_index=True)[1]  # (n,) a pixel (flat index) of each region
    total = float(r.labels.size)
    for k in np.unique(out[ink])[::-1]:  # top down: a split moves only layers already seen
        if k == 0 or (max_count is not None and out.max() + 1 >= max_count):
            break  # the background, or no room: nothing more can split
        members, of, num = layer_pieces(r.labels, out, k, gap, first)  # (m,), (m,) the piece of each region
        if num < 2:
            continue
        inked = np.bincount(of, weights=ink[members], minlength=num + 1) > 0  # (num + 1,)
        sizes = np.bincount(of, weights=r.area[members], minlength=num + 1)  # (num + 1,)
        lines = members[ink[members]]
        colour = np.average(r.colour[lines, :3], axis=0, weights=r.area[lines])  # (3,) the lines' ink
        alike = np.linalg.norm(r.colour[members, :3] - colour, axis=-1) < delta_e  # (m,)
        worded = np.bincount(of, weights=r.area[members] * alike, minlength=num + 1) >= 0.5 * sizes  # (num + 1,)
        apart = np.nonzero(~inked & ~worded & (sizes >= min_object * total))[0]
        apart = apart[apart > 0]
        if not len(apart):
            continue
        out[out >= k] += 1  # the line's layer and those above move up by one
        out[members[np.isin(of, apart)]] = k
    return out


def line_ink(graph: RegionGraph, boxes: list[Box], delta_e: float = 10.0) -> np.ndarray:
    """(n,) bool: the regions that are the ink of a detected text line: at least 90% of their pixels
    inside one of ``boxes`` and their mean colour more than ``delta_e`` (CIE76) from every region making
    up at least 15% of a 3-px frame around that box (the line's surroundings). A line in its own colour
    is a layer a designer made, not a fragment of its panel."""
    h, w = graph.regions.labels.shape
    ink = np.zeros(graph.count, bool)
    for raw in boxes:
        box = _clip(raw, h, w)
        found = _ink_and_base(graph, box, delta_e) if box is not None else None
        if found is not None:
            ink[found[0]] = True
    return ink
