"""A :class:`~layerdiff.planning.plan.LayerPlan` -> a layered image at the size asked for.

1. The background is drawn exactly (:func:`~layerdiff.planning.draw.draw_background`); a scene that is
   neither a colour, a gradient, a pattern nor a known photo is generated from its phrase as a one-layer
   image and made opaque over its named colour (white when none).
2. Each object is generated as its own layer from its phrase alone (a shade named in it, "a light green star",
   is asked for by its family, the model's word: :func:`~layerdiff.planning.colours.model_phrase`), through
   the generate pipeline's per-layer-prompt path (a 2-layer sample whose top layer is prompted with the
   phrase), all objects of the plan in one batch. Each sample is steered by a layout box covering
   :data:`OBJECT_HINT` of the grid, so the object takes most of the model's full grid whatever its size in the
   output (the spirit of ART's layer-wise region crop, Pu et al. 2025: a small object gets the whole grid).
   The object's visible part is then cropped from the grid and resampled to about its plan box's size, the
   layer refiner redraws its outline there from the phrase, the edge is sharpened to about one output pixel
   (:func:`sharpen_alpha`) and the colours are smoothed at the scale of the enlarged VAE patch
   (:func:`smooth_colour`, so the patch grid does not show inside the object), so ``512 x 512`` gets 512-pixel
   outlines, not an enlarged 128-pixel grid. Last, the refined shape (which may reach beyond the coarse
   sample's outline) is fitted whole into its plan box, aspect kept and centred (:func:`place_object`):
   nothing of the layer reaches outside its box, and no outline is cut at it.
3. Text layers are typeset in a real font (:func:`~layerdiff.planning.draw.draw_text`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from layerdiff.contract import LayerLimitError, layer_limit_message
from layerdiff.layered import Layer, LayeredImage
from layerdiff.refine import crop, layer_window

from .colours import model_phrase
from .draw import draw_background, draw_text, is_exact, rgb
from .plan import Box, LayerPlan, PlanError

OBJECT_HINT: Box = (0.2, 0.2, 0.8, 0.8)
"""Layout box given to the model for every object sample: the object fills most of the grid."""
CROP_MARGIN = 0.35
"""Margin around an object's visible part when it is cropped from the grid, as a share of its longer side;
more than the refiner's own window margin (:data:`~layerdiff.refine.WINDOW_MARGIN`), so all the refiner
redraws lies inside the crop."""
SEEN_ALPHA = 0.05
"""Alpha above which a refined object's pixel counts as part of its shape when the shape is fitted into its box."""
MAX_SIDE = 8192
SMOOTH_PATCHES = 0.5
"""Colour smoothing inside a placed object: Gaussian sigma in units of the VAE's patch (as enlarged to the
output), so the patch grid of the coarse sample does not show in the object's colours."""


def smooth_colour(rgba: torch.Tensor, sigma: float) -> torch.Tensor:
    """(1, 4, H, W) straight RGBA with its colour blurred by normalised convolution: each pixel takes the
    alpha-weighted Gaussian average (``sigma`` px) of the colours around it, so transparent pixels lend no
    colour and edges keep the inside's colour. Alpha is unchanged."""
    if sigma < 0.5:
        return rgba
    radius = int(math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    k = (k / k.sum()).to(rgba.dtype)
    a = rgba[:, 3:]
    stack = torch.cat([rgba[:, :3] * a, a], 1)  # (1, 4, H, W) premultiplied
    kx = k.view(1, 1, 1, -1).repeat(4, 1, 1, 1)
    ky = k.view(1, 1, -1, 1).repeat(4, 1, 1, 1)
    stack = torch.nn.functional.conv2d(torch.nn.functional.pad(stack, (radius, radius, 0, 0), mode="replicate"),
                                       kx, groups=4)
    stack = torch.nn.functional.conv2d(torch.nn.functional.pad(stack, (0, 0, radius, radius), mode="replicate"),
                                       ky, groups=4)
    rgb = torch.where(stack[:, 3:] > 1e-6, stack[:, :3] / stack[:, 3:].clamp_min(1e-6), rgba[:, :3])
    return torch.cat([rgb.clamp(0, 1), a], 1)


def _visible_box(alpha: torch.Tensor, thresholds: Sequence[float] = (0.5, 0.1)
                 ) -> tuple[float, float, float, float] | None:
    """(x0, y0, x1, y1) in pixels of alpha > the first of ``thresholds`` that any pixel passes, in an (H, W)
    map; None when none does."""
    for threshold in thresholds:
        mask = alpha > threshold
        if bool(mask.any()):
            ys = torch.nonzero(mask.any(1)).flatten()
            xs = torch.nonzero(mask.any(0)).flatten()
            return float(xs[0]), float(ys[0]), float(xs[-1]) + 1, float(ys[-1]) + 1
    return None


def sharpen_alpha(alpha: torch.Tensor, gain: float) -> torch.Tensor:
    """Steepen a soft edge around alpha 0.5 by ``gain`` (>= 1): an edge blurred over ``gain`` pixels by
    upsampling comes back about one pixel wide; alpha 0 and 1 stay."""
    if gain <= 1.0:
        return alpha
    return ((alpha - 0.5) * gain + 0.5).clamp(0, 1)


def place_object(pipe, coarse: torch.Tensor, phrase: str, box: Box, width: int, height: int,
                 refine: bool = True, refine_passes: int | None = None) -> np.ndarray:
    """One object sample (4, g, g) straight RGBA -> its layer (height, width, 4) inside ``box`` (normalised).

    The visible part is cropped from the grid at the scale that would fit it into the box, refined there
    with ``phrase`` when the pipeline has a refiner and ``refine``, sharpened and its colours smoothed.
    Only then is it fitted: the refined shape's own visible box (alpha > :data:`SEEN_ALPHA`), which the
    refiner may have drawn larger than the coarse sample's, is scaled (aspect kept, never up) and centred
    into ``box``, so the whole outline lies inside the box. Anything left outside the box is cleared.
    """
    out = np.zeros((height, width, 4), np.float32)
    vis = _visible_box(coarse[3])
    if vis is None:
        return out
    x0, y0, x1, y1 = vis
    ow, oh = x1 - x0, y1 - y0
    bx0, by0, bx1, by1 = box[0] * width, box[1] * height, box[2] * width, box[3] * height
    scale = min((bx1 - bx0) / ow, (by1 - by0) / oh)  # patch px per grid px
    side_grid = max(ow, oh) * (1 + 2 * CROP_MARGIN)
    side = max(8, min(MAX_SIDE, int(round(side_grid * scale))))  # patch px
    scale = side / side_grid
    window = torch.tensor([[(x0 + x1) / 2, (y0 + y1) / 2, side_grid]])  # (1, 3) in grid px
    c = coarse[None].float()  # (1, 4, g, g)
    premult = torch.cat([c[:, :3] * c[:, 3:], c[:, 3:]], 1)  # (1, 4, g, g)
    local = _straight(crop(premult, window, side))  # (1, 4, S, S)
    gain = scale  # patch px per grid px: the width of an upsampled grid edge
    if refine and getattr(pipe, "refiner", None) is not None:
        win = layer_window(local[0, 3])
        if win is not None:
            text = pipe.refiner_phrases([[phrase]])[0]  # (1, P)
            local = pipe.refine(local, text, None, refine_passes)  # (1, 4, S, S)
            gain = win[2] / float(pipe.refiner.config.crop_size)  # patch px per refiner px
    local[:, 3:] = sharpen_alpha(local[:, 3:], gain)
    patch_px = float(getattr(getattr(pipe, "vae", None), "spatial_scale", 8)) * scale  # a VAE patch, in patch px
    local = smooth_colour(local, SMOOTH_PATCHES * patch_px)  # (1, 4, S, S)
    seen = _visible_box(local[0, 3], (SEEN_ALPHA,))
    if seen is None:
        return out
    rx0, ry0, rx1, ry1 = seen  # the refined shape, in patch px
    fit = min(1.0, (bx1 - bx0 - 1) / (rx1 - rx0), (by1 - by0 - 1) / (ry1 - ry0))  # output px per patch px
    n = max(1, int(math.floor(side * fit)))
    fit = n / side
    if n != side:
        a = local[:, 3:]
        local = F.interpolate(torch.cat([local[:, :3] * a, a], 1), size=(n, n), mode="bilinear",
                              antialias=True, align_corners=False)  # (1, 4, n, n) premultiplied
        local = _straight(local)
    patch = local[0].permute(1, 2, 0).cpu().numpy()  # (n, n, 4)
    px0 = int(round((bx0 + bx1) / 2 - (rx0 + rx1) / 2 * fit))  # the refined shape centred in the box
    py0 = int(round((by0 + by1) / 2 - (ry0 + ry1) / 2 * fit))
    cx0, cy0 = max(px0, 0), max(py0, 0)
    cx1, cy1 = min(px0 + n, width), min(py0 + n, height)
    if cx1 > cx0 and cy1 > cy0:
        out[cy0:cy1, cx0:cx1] = patch[cy0 - py0:cy1 - py0, cx0 - px0:cx1 - px0]
    inside = np.zeros((height, width), bool)
    inside[int(math.floor(by0)):int(math.ceil(by1)), int(math.floor(bx0)):int(math.ceil(bx1))] = True
    out[~inside, 3] = 0.0
    out[out[..., 3] <= 0, :3] = 0.0
    return out


def _straight(premult: torch.Tensor) -> torch.Tensor:
    """(N, 4, H, W) premultiplied RGBA -> straight RGBA, alpha clamped to [0, 1], colour 0 where alpha is 0."""
    a = premult[:, 3:].clamp(0, 1)  # (N, 1, H, W)
    rgb = torch.where(a > 1e-6, premult[:, :3] / a.clamp_min(1e-6), 0.0).clamp(0, 1)  # (N, 3, H, W)
    return torch.cat([rgb, a], 1)


def _scene(pipe, plan: LayerPlan, width: int, height: int, generator: torch.Generator,
           steps: int | None, guidance: float | None) -> np.ndarray:
    """A scene background generated from its phrase, made opaque over its first named colour (else white)."""
    bg = plan.background
    res = pipe(bg.phrase, num_layers=1, layer_prompts=[bg.phrase], width=width, height=height,
               num_inference_steps=steps, guidance_scale=guidance, generator=generator, output_type="np",
               refine=False)
    layer = np.asarray(res.layers[0][0], np.float32)  # (H, W, 4)
    base = rgb(bg.colors[0]) if bg.colors else rgb("white")
    a = layer[..., 3:]
    out = np.ones_like(layer)
    out[..., :3] = layer[..., :3] * a + base * (1 - a)
    return out


def generate_from_plan(pipe, plan: LayerPlan, width: int | None = None, height: int | None = None, *,
                       seed: int = 0, num_inference_steps: int | None = None, guidance_scale: float | None = None,
                       refine: bool = True, refine_passes: int | None = None,
                       hint: Box | None = OBJECT_HINT) -> LayeredImage:
    """The layered image of ``plan`` at ``width`` x ``height`` (default: the model's native size).

    ``pipe``: a :class:`~layerdiff.pipelines.LayerGeneratePipeline`. Layers come bottom to top as the plan
    lists them, the background first; each carries its phrase as ``metadata["caption"]`` (text layers also
    their :class:`~layerdiff.text.TextInfo`). Object k is sampled with ``torch.Generator().manual_seed(seed + k)``,
    so one object's sample does not depend on the others. Every layer without a box gets one from the
    layout first. ``hint``: the layout box each object sample is steered into (None: no box). A plan with
    more layers than the model's layer limit (``pipe.max_layers``, background included) raises
    :class:`~layerdiff.contract.LayerLimitError` before anything is generated.
    """
    from .layout import assign_boxes

    w = int(width or pipe.native_resolution)
    h = int(height or pipe.native_resolution)
    if min(w, h) < 8 or w * h > 16384 * 16384:
        raise PlanError(f"output size {w}x{h} is outside [8 px, 16384^2 pixels]")
    limit = int(getattr(pipe, "max_layers", plan.num_layers))
    if plan.num_layers > limit:  # the model's one layer limit, as on every other path
        raise LayerLimitError(layer_limit_message(getattr(pipe, "model_name", "?"), limit, "plan layers",
                                                  plan.num_layers)
                              + " (background included); name fewer objects or edit the plan (--show-plan, --plan)")
    assign_boxes(plan)
    bg = plan.background
    if is_exact(bg):
        bg_pixels = draw_background(bg, w, h)
    else:
        bg_pixels = _scene(pipe, plan, w, h, torch.Generator().manual_seed(seed + 10_000), num_inference_steps,
                           guidance_scale)
    bg_caption = bg.phrase or (f"a solid {bg.colors[0]} background" if bg.colors else "a background")
    layers = [Layer(bg_pixels, name="background", metadata={"caption": bg_caption})]
    objects = [k for k, lay in enumerate(plan.layers) if lay.kind == "object"]
    prompts = {k: model_phrase(plan.layers[k].phrase, plan.layers[k].color) for k in objects}
    samples = _object_samples(pipe, [prompts[k] for k in objects], seed, num_inference_steps,
                              guidance_scale, hint, refine, refine_passes)
    sample_of = dict(zip(objects, samples))
    for k, lay in enumerate(plan.layers):
        if lay.kind == "object":
            pixels = place_object(pipe, sample_of[k], prompts[k], lay.box or (0.0, 0.0, 1.0, 1.0), w, h,
                                  refine=refine, refine_passes=refine_passes)
            layers.append(Layer(pixels, name=lay.phrase[:40], metadata={"caption": lay.phrase}))
        else:
            layers.append(draw_text(lay, bg, w, h))
    return LayeredImage((w, h), layers, metadata={"plan": plan.to_dict()})


def _object_samples(pipe, phrases: Sequence[str], seed: int, steps: int | None, guidance: float | None,
                    hint: Box | None, refine: bool = True, refine_passes: int | None = None) -> list[torch.Tensor]:
    """One (4, g, g) straight-RGBA sample per phrase: the top layer of a 2-layer generation prompted by it.

    The samples come back as latents, before the pipeline's own refiner stage (the refiner runs later, at
    the output size, in :func:`place_object`); ``refine`` / ``refine_passes`` are passed on as given."""
    if not phrases:
        return []
    gens = [torch.Generator().manual_seed(seed + k) for k in range(len(phrases))]
    res = pipe(list(phrases), num_layers=2, layer_prompts=[["", p] for p in phrases],
               boxes=None if hint is None else [None, hint], num_inference_steps=steps, guidance_scale=guidance,
               generator=gens, output_type="latent", refine=refine, refine_passes=refine_passes)
    return [pipe.decode_layers(lat[1:2])[0].cpu() for lat in res.layers]  # (4, g, g) each

