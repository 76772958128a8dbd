"""Non-learned referring extraction: the baseline the learned extractor must beat.

From a :class:`~layerdiff.referring.ReferringPrompt` the object's region is found without any model:

- a point: the connected component, around the point, of the pixels within ``tolerance`` (CIE76
  delta E in CIE Lab) of the point's colour (a colour flood fill); several points unite their regions;
- a box: a GrabCut-like two-colour-model segmentation inside the box (Rother, Kolmogorov & Blake,
  "GrabCut", SIGGRAPH 2004, without the graph cut): k-means colour models of the box (object) and of
  a ring around it (background); box pixels go to the nearer model, the models are refitted on the
  assignment, repeated; small stray components are dropped;
- a mask: the mask as given;
- a phrase: a colour word of the synthetic vocabulary ("red", "navy", ...) selects the pixels near that
  colour (away from the image border); a phrase without a colour word gives an empty layer.

Negative points remove the flood region they fall in. The hard region gets soft edges from a local
two-colour matte (:func:`layerdiff.recompose.colour_line_matte`); the hole in the background is filled
by push-pull interpolation (:func:`layerdiff.regions.fill.push_pull_fill`); finally the pair is
projected so that it recomposes exactly to the input (:func:`layerdiff.recompose.project_residual`).
No amodal completion: the object layer holds only what is visible.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage

from ..contract import check_options, image_to_array
from ..layered import Layer, LayeredImage
from ..recompose import colour_line_matte, project_residual
from ..referring import ReferringPrompt, as_prompts, mask_map
from ..regions.fill import push_pull_fill
from ..regions.prompts import box_region, drop_specks, phrase_colour
from ..regions.segment import rgb_to_lab

__all__ = ["FloodFillExtractor", "flood_region", "box_region", "phrase_region"]

_EIGHT = np.ones((3, 3), bool)


def flood_region(lab: np.ndarray, x: float, y: float, tolerance: float, gap: float = 0.0) -> np.ndarray:
    """Pixels (H, W) bool connected (8-neighbourhood) to pixel (x, y) within ``tolerance`` delta E of its
    colour (the median of its 3x3 neighbourhood, robust to a seed on an anti-aliased edge).

    With ``gap > 0`` pixels, components of the same colour within ``gap`` of the region join it (repeatedly),
    so a point on one letter selects the word; components touching more than a quarter of the image border
    (the background) never join.
    """
    h, w = lab.shape[:2]
    xi, yi = int(np.clip(round(x), 0, w - 1)), int(np.clip(round(y), 0, h - 1))
    patch = lab[max(0, yi - 1) : yi + 2, max(0, xi - 1) : xi + 2].reshape(-1, 3)  # (<= 9, 3)
    centre = lab[yi, xi]
    near = patch[np.linalg.norm(patch - centre, axis=-1) < tolerance]  # neighbours of the seed's colour
    seed = np.median(near, axis=0)  # (3,)
    close = np.linalg.norm(lab - seed, axis=-1) < tolerance  # (H, W)
    close[yi, xi] = True
    labels, n = ndimage.label(close, structure=_EIGHT)
    region = labels == labels[yi, xi]
    if gap <= 0 or n <= 1:
        return region
    border = np.zeros((h, w), bool)
    border[[0, -1]] = True
    border[:, [0, -1]] = True
    joinable = np.bincount(labels[border], minlength=n + 1) < 0.25 * border.sum()  # (n + 1,)
    joinable[0] = False
    reach = int(round(gap)) + 1  # a gap of g empty pixels puts the next component at distance g + 1
    for _ in range(8):
        near = ndimage.binary_dilation(region, structure=_EIGHT, iterations=reach)
        touched = np.unique(labels[near & close & ~region])
        touched = touched[joinable[touched]]
        if touched.size == 0:
            break
        region |= np.isin(labels, touched)
    return region


def phrase_region(lab: np.ndarray, text: str, tolerance: float) -> np.ndarray:
    """Pixels (H, W) bool near the colour named in ``text``, in components that stay off most of the image
    border (the background); empty when the phrase names no vocabulary colour."""
    h, w = lab.shape[:2]
    found = phrase_colour(text)
    if found is None:
        return np.zeros((h, w), bool)
    target = rgb_to_lab(found[1])  # (3,)
    close = np.linalg.norm(lab - target, axis=-1) < 2.0 * tolerance  # rendered colours are jittered
    labels, n = ndimage.label(close, structure=_EIGHT)
    if n == 0:
        return close
    border = np.zeros((h, w), bool)
    border[[0, -1]] = True
    border[:, [0, -1]] = True
    on_border = np.bincount(labels[border], minlength=n + 1)
    keep = on_border < 0.25 * border.sum()
    keep[0] = False
    return drop_specks(keep[labels], 0.05)


def soft_alpha(hard: np.ndarray, rgb: np.ndarray, radius: int = 2) -> np.ndarray:
    """Soft edges for a hard region (H, W): the two-colour matte in a one-pixel band around its border."""
    if not hard.any():
        return np.zeros(hard.shape, np.float32)
    fg = ndimage.binary_erosion(hard, structure=_EIGHT, border_value=1)
    bg = ~ndimage.binary_dilation(hard, structure=_EIGHT)
    band = ~fg & ~bg  # (H, W) the uncertain edge
    matte, conf = colour_line_matte(rgb.astype(np.float32), fg, bg, radius)  # (H, W) each
    alpha = hard.astype(np.float32)
    alpha[band] = conf[band] * matte[band] + (1.0 - conf[band]) * alpha[band]
    return alpha


class FloodFillExtractor:
    """Referring extraction without a model (see the module docstring); CPU, well under a second.

    Args:
        tolerance: colour distance (CIE76 delta E) of a flood fill and of the colour models.
        iterations: refits of the box colour models.
        gap: a point's flood region takes in same-colour components within this fraction of the image's
            longer side (letters of a word, parts of an icon).
    """

    options: frozenset[str] = frozenset({"exact_recomposition"})

    def __init__(self, tolerance: float = 12.0, iterations: int = 4, gap: float = 0.05,
                 name: str = "floodfill") -> None:
        if not tolerance > 0:
            raise ValueError(f"tolerance must be positive, got {tolerance}")
        if iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations}")
        self.tolerance = float(tolerance)
        self.iterations = int(iterations)
        self.gap = float(gap)
        self.name = name

    @classmethod
    def from_pretrained(cls, name: str = "floodfill", **kwargs: Any) -> FloodFillExtractor:
        """Registry-style constructor; there are no weights. Keyword arguments go to the constructor."""
        return cls(name=name, **kwargs)

    def object_region(self, rgba: np.ndarray, prompt: ReferringPrompt, seed: int = 0) -> np.ndarray:
        """The hard object region (H, W) bool for a prompt already in pixel coordinates of ``rgba``."""
        h, w = rgba.shape[:2]
        lab = rgb_to_lab(rgba[..., :3])  # (H, W, 3)
        region = np.zeros((h, w), bool)
        if prompt.box is not None:
            region |= box_region(lab, prompt.box, self.tolerance, self.iterations, seed)
        elif prompt.text and not prompt.positive_points and prompt.mask is None:
            region |= phrase_region(lab, prompt.text, self.tolerance)
        gap = self.gap * max(h, w)
        for x, y in prompt.positive_points:
            region |= flood_region(lab, x, y, self.tolerance, gap)
        if prompt.mask is not None:
            region |= mask_map(prompt.mask, h, w) > 0.5
        for x, y in prompt.negative_points:
            region &= ~flood_region(lab, x, y, self.tolerance)
        return region

    def extract(self, image: Any, prompts: ReferringPrompt | str | list, *, seed: int | None = None,
                exact_recomposition: bool = True, **options: Any) -> LayeredImage:
        """Extract one object per prompt: a :class:`LayeredImage` [background (filled), objects...].

        Several prompts are extracted in turn, each from the previous background; the first one ends
        on top. The stack recomposes to the input within 1/255 (``exact_recomposition``). ``seed``
        seeds the box's colour models (None: 0).
        """
        check_options(self, options)
        rgba, _ = image_to_array(image)  # (H, W, 4)
        h, w = rgba.shape[:2]
        items = [p.in_pixels((w, h)) for p in as_prompts(prompts)]
        current = rgba
        objects: list[Layer] = []
        for i, prompt in enumerate(items):
            alpha = soft_alpha(self.object_region(current, prompt, seed or 0), current[..., :3])  # (H, W)
            hole = ndimage.binary_dilation(alpha > 0.01, structure=_EIGHT)
            background = push_pull_fill(current, (~hole).astype(np.float32))  # (H, W, 4) hole filled
            obj = current.copy()
            obj[..., 3] = alpha * current[..., 3]
            pair = np.stack([background, obj])  # (2, H, W, 4)
            if exact_recomposition:
                pair = project_residual(pair, current)
            objects.append(Layer(pair[1], name=prompt.describe(), metadata={"prompt": prompt.describe(),
                                                                            "extraction_index": i}))
            current = pair[0]
        layers = [Layer(current, name="Background")] + objects[::-1]
        out = LayeredImage((w, h), layers, metadata={"extractor": self.name})
        if exact_recomposition and len(objects) > 1:
            stack = project_residual(out.to_numpy(), rgba)
            for layer, px in zip(out.layers, stack):
                layer.pixels = px
        return out

