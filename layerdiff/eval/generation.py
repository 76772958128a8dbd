"""Does a generated layer carry the colour and the shape its caption names?

The check behind ``benchmarks/bench_generate.py``. It is calibrated on ground truth, not on a model:
run on the true layers of held-out synthetic designs (``bench_generate.py --oracle``) it passes
about 95% of the named colours and 98% of the named shapes, so a perfect generator scores near
those figures and no more.

- **Colour**: every visible pixel votes, with its alpha as weight, for its nearest vocabulary colour
  (:data:`layerdiff.data.synth_vocab.COLORS`, RGB distance). The layer carries a colour when that
  colour gets at least ``MIN_SHARE`` of the votes. A share, not the mean colour: a gradient "from
  purple to orange", a yellow word with a teal outline or a shape with its soft shadow all carry
  their named colour while their mean colour lies elsewhere.
- **Shape class**: the largest connected part of the layer's alpha > 0.5 is ``hollow`` when filling
  its holes adds at least ``MIN_HOLE`` of its filled area; otherwise its area over the area of its
  minimum-area bounding rectangle (rotating calipers over the convex hull, so rotation does not
  matter: Freeman and Shapira 1975) sorts it: ``box`` above ``BOX_FILL`` (squares, rectangles,
  rounded rectangles: 0.87-1.0), ``round`` above ``ROUND_FILL`` (circles, ellipses: about pi/4;
  hearts about 0.75), ``pointy`` below (triangles about 0.5, stars about 0.4).

**Caption alone** (:func:`score_plan_image`, ``benchmarks/bench_plan_generate.py``): with no layer prompts
the image's layers need not come in the caption's order, so the named objects are matched one to one to
the layers above an opaque bottom layer that carries the named background colour; a caption passes when
every named object finds a layer of its own with its colour and shape class. A plan's shaded colour ("light
green", :mod:`layerdiff.planning.colours`) is checked as its family ("green"): the planner draws shades that
stay nearest to their family's vocabulary colour.
"""

from __future__ import annotations

import numpy as np

from layerdiff.data.synth_vocab import COLORS

SHAPE_CLASS: dict[str, str] = {
    "circle": "round", "ellipse": "round", "heart": "round",
    "square": "box", "rectangle": "box", "rounded rectangle": "box",
    "triangle": "pointy", "star": "pointy",
    "ring": "hollow",
}
"""Vocabulary shape name -> the class :func:`classify_shape` must find."""

MIN_SHARE = 0.15
MIN_HOLE = 0.07
BOX_FILL = 0.85
ROUND_FILL = 0.66


_NAMES = list(COLORS)
_PALETTE = np.array([COLORS[n] for n in _NAMES], np.float32) / 255.0  # (K, 3) vocabulary colours in [0, 1]


def colour_shares(rgba: np.ndarray) -> dict[str, float]:
    """Alpha-weighted share of each vocabulary colour among a layer's pixels (nearest colour votes).

    rgba: (H, W, 4) straight RGBA in [0, 1]. All shares are 0 for an empty layer.
    """
    rgb = rgba[..., :3].reshape(-1, 3).astype(np.float32)  # (N, 3)
    alpha = rgba[..., 3].reshape(-1).astype(np.float64)  # (N,)
    d = ((rgb[:, None, :] - _PALETTE[None]) ** 2).sum(-1)  # (N, K)
    votes = np.bincount(d.argmin(1), weights=alpha, minlength=len(_NAMES))  # (K,)
    total = votes.sum()
    return {n: float(v / total) if total > 0 else 0.0 for n, v in zip(_NAMES, votes)}


def carries_colour(rgba: np.ndarray, name: str, min_share: float = MIN_SHARE) -> bool:
    """Whether at least ``min_share`` of the layer's alpha mass is nearest to the vocabulary colour ``name``."""
    shares = colour_shares(rgba)
    if name not in shares:
        raise KeyError(f"{name!r} is not a vocabulary colour")
    return shares[name] >= min_share


def min_rect_fill(region: np.ndarray) -> float:
    """Area of a pixel region over the area of its minimum-area (rotated) bounding rectangle."""
    from scipy.spatial import ConvexHull, QhullError

    ys, xs = np.nonzero(region)
    corners = np.concatenate([np.stack([xs + dx, ys + dy], 1) for dx in (0, 1) for dy in (0, 1)])  # (4N, 2)
    try:
        hull = corners[ConvexHull(corners.astype(np.float64)).vertices].astype(np.float64)  # (V, 2)
    except QhullError:  # collinear pixels: a line has no area
        return 1.0
    edges = np.roll(hull, -1, axis=0) - hull  # (V, 2)
    lengths = np.hypot(edges[:, 0], edges[:, 1])
    u = edges[lengths > 0] / lengths[lengths > 0, None]  # (E, 2) edge directions
    v = np.stack([-u[:, 1], u[:, 0]], 1)  # (E, 2) normals
    pu, pv = hull @ u.T, hull @ v.T  # (V, E)
    areas = (pu.max(0) - pu.min(0)) * (pv.max(0) - pv.min(0))  # (E,)
    return float(region.sum() / areas.min())


def shape_measures(alpha: np.ndarray) -> tuple[float, float] | None:
    """(fill, hole share) of the largest connected part of a layer's alpha > 0.5; None when nothing is visible.

    fill: :func:`min_rect_fill` of that part; hole share: the fraction of its hole-filled area that
    its holes take. The two numbers :func:`classify_shape` thresholds.
    """
    from scipy import ndimage

    mask = alpha > 0.5  # (H, W)
    if not mask.any():
        return None
    labels, n = ndimage.label(mask)
    sizes = ndimage.sum(mask, labels, range(1, n + 1))
    region = labels == (1 + int(np.argmax(sizes)))  # (H, W) the largest part
    filled = ndimage.binary_fill_holes(region)
    return min_rect_fill(region), float(1.0 - region.sum() / filled.sum())


def classify_shape(alpha: np.ndarray) -> str | None:
    """'round', 'box', 'pointy' or 'hollow' from a layer's alpha (H, W); None when it has no visible part."""
    measures = shape_measures(alpha)
    if measures is None:
        return None
    fill, hole = measures
    if hole >= MIN_HOLE:
        return "hollow"
    if fill > BOX_FILL:
        return "box"
    return "round" if fill > ROUND_FILL else "pointy"


def outline_measures(stack: np.ndarray, shapes: list[str | None]) -> dict[str, list[tuple[float, float]]]:
    """:func:`shape_measures` of every layer whose caption names a shape, grouped by the named class.

    stack: (L, H, W, 4) straight RGBA, bottom first; ``shapes[k]``: the shape layer k's caption names.
    Empty and missing layers are left out. The continuous view of the shape check: how far generated
    outlines sit from the true ones (:func:`median_outlines`) before any threshold flips.
    """
    out: dict[str, list[tuple[float, float]]] = {}
    for k, shape in enumerate(shapes):
        if shape in SHAPE_CLASS and k < len(stack):
            measures = shape_measures(stack[k][..., 3])
            if measures is not None:
                out.setdefault(SHAPE_CLASS[shape], []).append(measures)
    return out


def median_outlines(measures: dict[str, list[tuple[float, float]]]) -> dict[str, dict[str, float]]:
    """Per class {"fill", "hole", "n"}: the medians of gathered :func:`outline_measures` lists."""
    return {cls: {"fill": float(np.median([m[0] for m in ms])), "hole": float(np.median([m[1] for m in ms])),
                  "n": len(ms)} for cls, ms in sorted(measures.items())}


def score_layers(stack: np.ndarray, colors: list[str | None], shapes: list[str | None]) -> dict[str, int]:
    """Colour and shape hits of one generated stack against its layers' named colours and shapes.

    stack: (L, H, W, 4) straight RGBA, bottom first; ``colors[k]`` / ``shapes[k]`` are what layer k's
    caption names (None: nothing). A named layer the stack lacks counts as a miss.
    Returns counts: colour_hits, colour_total, shape_hits, shape_total, and per shape class ``c`` named
    here, shape_hits_c and shape_total_c (which classes the misses are in).
    """
    out = {"colour_hits": 0, "colour_total": 0, "shape_hits": 0, "shape_total": 0}
    for k, (colour, shape) in enumerate(zip(colors, shapes)):
        if colour in COLORS:
            out["colour_total"] += 1
            out["colour_hits"] += int(k < len(stack) and carries_colour(stack[k], colour))
        if shape in SHAPE_CLASS:
            want = SHAPE_CLASS[shape]
            hit = int(k < len(stack) and classify_shape(stack[k][..., 3]) == want)
            for key in ("", f"_{want}"):
                out[f"shape_total{key}"] = out.get(f"shape_total{key}", 0) + 1
                out[f"shape_hits{key}"] = out.get(f"shape_hits{key}", 0) + hit
    return out


def class_rates(counts: dict[str, int]) -> dict[str, dict[str, float]]:
    """Per shape class {"rate", "n"} from summed :func:`score_layers` counts (classes that were named)."""
    out = {}
    for cls in sorted(set(SHAPE_CLASS.values())):
        n = counts.get(f"shape_total_{cls}", 0)
        if n:
            out[cls] = {"rate": counts.get(f"shape_hits_{cls}", 0) / n, "n": n}
    return out


# ----------------------------------------------------------------------- caption alone (a plan's image)
def max_matching(ok: list[list[bool]]) -> int:
    """Size of a maximum matching of rows (named objects) to columns (layers) where ``ok[i][j]``
    (Kuhn's augmenting paths; a few objects and layers)."""
    owner: dict[int, int] = {}

    def augment(i: int, seen: set[int]) -> bool:
        for j, good in enumerate(ok[i]):
            if good and j not in seen:
                seen.add(j)
                if j not in owner or augment(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    return sum(augment(i, set()) for i in range(len(ok)))


OPAQUE = 0.99
"""Mean alpha the bottom layer needs to count as an opaque background."""


def colour_family(name: object) -> str | None:
    """The vocabulary colour a gold or plan colour names: itself, or a shade's family ("light green" -> "green");
    None for None or a name that is no colour."""
    from layerdiff.planning.colours import shade_of

    got = shade_of(name) if isinstance(name, str) else None
    return got[0] if got else None


def score_plan_image(stack: np.ndarray, gold: dict) -> dict:
    """The caption-alone check: is what the caption names in the image, each object in a layer of its own?

    stack: (L, H, W, 4) straight RGBA, bottom first. ``gold``: what the caption names, as
    ``{"background": {"colors": [...]}, "layers": [{"kind", "color", "shape"}, ...]}`` (the form of a
    :class:`~layerdiff.planning.LayerPlan` dict; its ``to_dict()`` works too). The caption passes when

    - the bottom layer is opaque (mean alpha >= ``OPAQUE``) and carries the first named background colour
      (:func:`carries_colour`; a shade: its family, :func:`colour_family`), and
    - the named layers above can be matched one to one to distinct layers above the bottom one such that
      each matched layer carries the named colour (when one is named) and its shape class is the named
      shape's (when one is named; :func:`classify_shape`).

    Layers are matched, not read by index, so a plan that stacks the same objects in another order still
    passes; a named object the image lacks, or two named objects drawn in one layer, fail. Text layers
    count with their colour. Returns ``pass``, ``background`` (bool) and, per named layer, ``colours`` /
    ``shapes``: whether a one-to-one matching on that property alone reaches it (lists of bools, for rates).
    """
    bg = gold["background"]
    bottom = stack[0]
    bg_colour = (colour_family(bg["colors"][0]) or bg["colors"][0]) if bg.get("colors") else None
    background = bool(bottom[..., 3].mean() >= OPAQUE and (bg_colour is None or carries_colour(bottom, bg_colour)))
    named = [{**lay, "color": colour_family(lay.get("color"))} for lay in gold["layers"]]
    named = [lay for lay in named if lay["color"] in COLORS or lay.get("shape") in SHAPE_CLASS]
    above = list(stack[1:])
    colour_ok = [[lay.get("color") not in COLORS or carries_colour(layer, lay["color"]) for layer in above]
                 for lay in named]
    classes = [classify_shape(layer[..., 3]) for layer in above]
    shape_ok = [[lay.get("shape") not in SHAPE_CLASS or cls == SHAPE_CLASS[lay["shape"]] for cls in classes]
                for lay in named]
    both = [[c and s for c, s in zip(cr, sr)] for cr, sr in zip(colour_ok, shape_ok)]
    n_colour = [lay for lay in named if lay.get("color") in COLORS]
    n_shape = [lay for lay in named if lay.get("shape") in SHAPE_CLASS]
    colour_hits = max_matching([row for row, lay in zip(colour_ok, named) if lay.get("color") in COLORS])
    shape_hits = max_matching([row for row, lay in zip(shape_ok, named) if lay.get("shape") in SHAPE_CLASS])
    objects = max_matching(both) == len(named)
    return {"pass": background and objects, "background": background,
            "colours": [k < colour_hits for k in range(len(n_colour))],
            "shapes": [k < shape_hits for k in range(len(n_shape))]}
