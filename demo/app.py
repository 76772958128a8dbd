"""layerdiff's web demo: a thin Gradio UI over the pipelines, :mod:`layerdiff.edit_ops` and
:mod:`layerdiff.io`.

Four tabs share one layered image (the *current stack*, a :class:`~layerdiff.layered.LayeredImage`
held per browser session in ``gr.State``):

- **Decompose**: upload a flat image or a layered file (PSD, ORA, zipped PNG stack); a layered
  file opens as it is, and *Decompose* splits its flattened composite with a registry model;
- **Generate**: text -> layers with a layerdiff diffusion model;
- **Edit**: hide / show, delete, reorder, move or recolour one layer (exact operations of
  :mod:`layerdiff.edit_ops`) or regenerate it from a prompt (:class:`~layerdiff.pipelines.LayerEditPipeline`,
  the other layers stay bit for bit);
- **Extract** (referring extraction): click the object on the stack's bottom layer (include / exclude
  points, or two corners of a box), optionally name it, and *Extract* pulls it out as a layer above the
  filled rest (:func:`layerdiff.pipelines.extract.peel` with a layerdiff model or the non-learned
  ``floodfill`` extractor, the choices of ``layerdiff extract --model``; floodfill is preselected: it
  is the more accurate overall in BENCHMARKS.md, while layerdiff-tiny's region layerer is better for
  clicked points and completes hidden parts). The canvas then shows the filled background, so
  extracting again peels the image layer by layer.

The layers are shown on a checkerboard, the composite updates after every change, and the stack
downloads as PSD, ORA or a ZIP of PNGs (written by :func:`layerdiff.io.save` into a per-app temporary
folder that is removed when the process exits).

Nothing heavy happens at import: models load on first use, once per process (:class:`ModelCache`),
and torch is imported only by the model code. Run it with ``layerdiff demo`` or ``python demo/app.py``;
it binds 127.0.0.1 unless ``--host`` is given, limits uploads (``--max-upload-mb``) and decoded
pixels, and queues model runs (``--concurrency`` at a time).
"""

from __future__ import annotations

import argparse
import atexit
import functools
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
import numpy as np
from PIL import Image

from layerdiff.errors import LayerdiffError
from layerdiff.layered import LayeredImage, from_float

if TYPE_CHECKING:
    from layerdiff.referring import ReferringPrompt

INPUT_TYPES = [".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".psd", ".psb", ".ora", ".zip"]
EXPORT_FORMATS = {"psd": "PSD", "ora": "ORA", "zip": "ZIP of PNGs"}
EDIT_OPERATIONS = ("toggle", "delete", "up", "down", "move", "recolor", "regenerate")
DEFAULT_MAX_PIXELS = 4096 * 4096
DEFAULT_MAX_FILE_LAYERS = 256
PREVIEW_SIDE = 1024  # longest side of the composite preview sent to the browser
PREVIEW_MIN_SIDE = 256  # smaller composites are enlarged (nearest neighbour) to at least this
THUMB_SIDE = 384  # longest side of a layer thumbnail
EXPORT_MAX_AGE_S = 3600.0
CLICK_MODES = {"include": "Include point", "exclude": "Exclude point", "box": "Box (click two corners)"}
MAX_CLICK_POINTS = 64
INCLUDE_COLOR, EXCLUDE_COLOR, BOX_COLOR = (40, 200, 90), (230, 40, 40), (255, 210, 0)
Report = Callable[[Any, str], None]  # report(progress value or (step, total), description)


# --------------------------------------------------------------------------- models
class ModelCache:
    """Loaded models per (registry name, task), shared by every session of the process.

    A diffusion model is loaded once, as its decomposition pipeline; the generation and editing
    pipelines are built from the same components (no second load). A failed load is not cached:
    its error is shown and the next request tries again. The pipelines of one model share a stateful
    scheduler, so runs of one model take :meth:`running`'s lock (different models run side by side).
    """

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], Any] = {}
        self._lock = threading.RLock()
        self._run_locks: dict[str, threading.Lock] = {}
        self.loads = 0  # models loaded from the registry so far

    def running(self, name: str) -> threading.Lock:
        """The lock to hold while model ``name`` runs."""
        with self._lock:
            return self._run_locks.setdefault(name, threading.Lock())

    def get(self, name: str, task: str = "decompose") -> Any:
        """The model ``name`` for ``task`` ("decompose", "generate", "edit" or "extract"), loading it on first
        use. For "extract", ``name`` is a layerdiff model or a non-learned extractor of
        :data:`~layerdiff.referring.EXTRACTOR_BASELINES` (the choices of ``layerdiff extract --model``)."""
        with self._lock:
            key = (name, task)
            if key not in self._items:
                self._items[key] = self._build(name, task)
            return self._items[key]

    def _build(self, name: str, task: str) -> Any:
        from layerdiff.referring import EXTRACTOR_BASELINES
        from layerdiff.registry import get_preset, load_decomposer, model_names

        if task == "extract" and name in EXTRACTOR_BASELINES:
            from layerdiff.pipelines.extract import load_extractor

            return load_extractor(name)  # the CLI's loader; a layerdiff model is built below from shared parts
        preset = get_preset(name)
        if task == "decompose":
            model = load_decomposer(name)
            self.loads += 1
            return model
        if preset.kind != "layerdiff":
            work = {"generate": "generation", "edit": "editing", "extract": "extraction"}[task]
            known = [*model_names("layerdiff"), *(EXTRACTOR_BASELINES if task == "extract" else ())]
            raise LayerdiffError(f"model {name!r} is a {preset.kind!r} model; {work} needs a layerdiff diffusion "
                                 f"model{' or a non-learned extractor' if task == 'extract' else ''} "
                                 f"({', '.join(known)})")
        from layerdiff import pipelines

        cls = {"generate": pipelines.LayerGeneratePipeline, "edit": pipelines.LayerEditPipeline,
               "extract": pipelines.LayerExtractPipeline}[task]
        base = self.get(name, "decompose")
        pipe = cls(**base.components, native_resolution=base.native_resolution, max_layers=base.max_layers)
        pipe.preset_defaults = dict(base.preset_defaults)
        return pipe


MODELS = ModelCache()


def _step_callback(report: Report | None, total: int, desc: str) -> Callable[..., dict[str, Any]]:
    """A diffusers-style ``callback_on_step_end`` that reports (step, total) to the UI's progress bar."""

    def callback(pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        if report is not None:
            report((step + 1, total), desc)
        return {}

    return callback


def _default_steps(pipe: Any, steps: int, task: str = "") -> int:
    """``steps``, or the model's default for ``task`` ("generate" has its own) when ``steps`` is 0."""
    from layerdiff.registry import default_steps

    return int(steps) if steps else default_steps(getattr(pipe, "preset_defaults", {}), task)


# --------------------------------------------------------------------------- backend
@dataclass(frozen=True)
class DemoSettings:
    """What an app was built with. ``work_dir`` holds the files offered for download."""

    default_model: str
    generative_model: str | None
    max_upload_mb: float
    concurrency: int
    max_pixels: int
    work_dir: Path


class DemoBackend:
    """What the UI's events call: read uploads, run the models, edit, export. Plain Python (no Gradio),
    so it is tested without a server; every user-facing failure is a :class:`LayerdiffError` or ValueError
    with a one-line message."""

    def __init__(self, settings: DemoSettings, models: ModelCache = MODELS) -> None:
        self.settings = settings
        self.models = models

    # ----------------------------------------------------------------- input
    def open(self, path: str | Path | None) -> LayeredImage:
        """Read an upload with :func:`layerdiff.io.load`; errors name the file, not the server's temp path."""
        from layerdiff.errors import LayeredFileError
        from layerdiff.io import Limits, load

        if path is None:
            raise LayerdiffError("no file: upload an image, PSD or ORA first")
        p = Path(path)
        if p.is_file() and p.stat().st_size > self.settings.max_upload_mb * 1024 * 1024:
            limit = self.settings.max_upload_mb
            raise LayerdiffError(f"{p.name}: file is larger than the {limit:g} MB limit")
        limits = Limits(max_pixels=self.settings.max_pixels, max_layers=DEFAULT_MAX_FILE_LAYERS)
        try:
            return load(p, limits=limits)
        except LayeredFileError as err:
            raise LayeredFileError(p.name, err.problem, err.reason) from None
        except FileNotFoundError:
            raise LayerdiffError(f"{p.name}: the upload is gone; upload it again") from None

    # ------------------------------------------------------------- models
    def decompose(self, path: str | Path | None, automatic: bool, layers: int, model: str, seed: int = 0,
                  steps: int = 0, report: Report | None = None) -> LayeredImage:
        """Decompose the flattened upload with registry model ``model`` into ``layers`` layers (or
        automatically, at most ``layers``)."""
        from layerdiff.registry import get_preset

        image = self.open(path).composite()  # (H, W, 4)
        preset = get_preset(model)
        cap = preset.max_layers if preset.max_layers > 0 else int(layers)
        count: int | str = "auto" if automatic else int(layers)
        max_layers = max(1, min(int(layers), cap)) if automatic else cap
        _report(report, 0.0, f"Loading {model}")
        decomposer = self.models.get(model, "decompose")
        kwargs: dict[str, Any] = {}
        if preset.kind != "decomposer":  # diffusion models take sampling options and report steps
            kwargs["seed"] = int(seed)
            if steps:
                kwargs["num_inference_steps"] = int(steps)
            kwargs["callback_on_step_end"] = _step_callback(report, _default_steps(decomposer, steps),
                                                            "Decomposing")
        _report(report, 0.0, "Decomposing")
        with self.models.running(model):
            return decomposer.decompose(image, num_layers=count, max_layers=max_layers, **kwargs)

    def generate(self, prompt: str, layers: int, model: str, seed: int = 0, steps: int = 0,
                 report: Report | None = None, layer_prompts: str = "") -> LayeredImage:
        """Text -> ``layers`` layers with :class:`~layerdiff.pipelines.LayerGeneratePipeline`.

        ``layer_prompts``: optional captions of the layers, one per line, bottom first (blank lines: none).
        """
        import torch

        lines = [line.strip() for line in (layer_prompts or "").splitlines()]
        while lines and not lines[-1]:
            lines.pop()
        _report(report, 0.0, f"Loading {model}")
        pipe = self.models.get(model, "generate")
        callback = _step_callback(report, _default_steps(pipe, steps, "generate"), "Generating")
        with self.models.running(model):
            out = pipe(prompt or "", num_layers=int(layers), layer_prompts=lines or None,
                       num_inference_steps=int(steps) or None,
                       generator=torch.Generator().manual_seed(int(seed)), output_type="np",
                       callback_on_step_end=callback)
        return out.images[0]

    # --------------------------------------------------------------- edits
    def edit(self, image: LayeredImage | None, layer: int | None, operation: str, dx: int = 0, dy: int = 0,
             color: str = "#ff0000", prompt: str = "", model: str | None = None, seed: int = 0,
             steps: int = 0, report: Report | None = None) -> tuple[LayeredImage, int, str]:
        """Apply one edit to layer ``layer`` (stack index, 0 = bottom).

        Returns the new stack, the index the edited layer now has, and a one-line description.
        """
        from layerdiff import edit_ops

        if operation not in EDIT_OPERATIONS:
            raise ValueError(f"unknown edit {operation!r}; known: {', '.join(EDIT_OPERATIONS)}")
        if image is None or len(image) == 0:
            raise LayerdiffError("nothing to edit yet: open, decompose or generate an image first")
        if layer is None or layer == "":
            raise LayerdiffError("choose a layer to edit")
        index = image.index_of(int(layer))
        n, name = len(image), image[index].name
        if operation == "toggle":
            op = "show" if not image[index].visible else "hide"
            verb = "Showed" if op == "show" else "Hid"
            return edit_ops.apply(image, index, op), index, f"{verb} layer {name!r}"
        if operation == "delete":
            return edit_ops.delete(image, index), max(0, min(index, n - 2)), f"Deleted layer {name!r}"
        if operation in ("up", "down"):
            target = index + 1 if operation == "up" else index - 1
            if not 0 <= target < n:
                where = "top" if operation == "up" else "bottom"
                raise LayerdiffError(f"layer {name!r} is already at the {where} of the stack")
            return edit_ops.reorder(image, index, target), target, f"Moved layer {name!r} {operation}"
        if operation == "move":
            return (edit_ops.move(image, index, int(dx or 0), int(dy or 0)), index,
                    f"Moved layer {name!r} by ({int(dx or 0)}, {int(dy or 0)}) px")
        if operation == "recolor":
            hex_color = parse_css_color(color)
            message = f"Recoloured layer {name!r} to {hex_color}"
            return edit_ops.recolor(image, index, hex_color), index, message
        return self._regenerate(image, index, prompt, model, seed, steps, report)

    def _regenerate(self, image: LayeredImage, index: int, prompt: str, model: str | None, seed: int,
                    steps: int, report: Report | None) -> tuple[LayeredImage, int, str]:
        import torch

        model = model or self.settings.generative_model
        if not model:
            raise LayerdiffError("no layerdiff diffusion model is registered; regeneration needs one")
        _report(report, 0.0, f"Loading {model}")
        pipe = self.models.get(model, "edit")
        callback = _step_callback(report, _default_steps(pipe, steps), "Regenerating")
        with self.models.running(model):
            out = pipe(image, layer=index, operation="regenerate", prompt=prompt or "",
                       num_inference_steps=int(steps) or None,
                       generator=torch.Generator().manual_seed(int(seed)), output_type="np",
                       callback_on_step_end=callback)
        return out.images[0], index, f"Regenerated layer {image[index].name!r} from {prompt!r}"

    # ------------------------------------------------------------- extract
    def extract(self, image: LayeredImage | None, prompt: ReferringPrompt, model: str, seed: int = 0,
                steps: int = 0, report: Report | None = None) -> tuple[LayeredImage, int, str]:
        """Extract the object ``prompt`` names from the bottom layer of ``image`` with extractor ``model``
        (a layerdiff model or a non-learned one, as ``layerdiff extract --model``), by
        :func:`layerdiff.pipelines.extract.peel`: the bottom layer becomes the filled rest, the object is
        inserted just above it, the other layers stay as they are. Extracting again peels the next object.

        Returns the new stack, the object's index (1) and a one-line description.

        Raises:
            LayerdiffError: no image, a prompt off the image (before any model loads), or nothing found.
        """
        from layerdiff.pipelines.extract import peel
        from layerdiff.referring import EXTRACTOR_BASELINES

        if image is None or len(image) == 0:
            raise LayerdiffError("nothing to extract from yet: open, decompose or generate an image first")
        prompt = prompt.in_pixels(image.size)  # bad prompts fail before the model loads
        _report(report, 0.0, f"Loading {model}")
        extractor = self.models.get(model, "extract")
        kwargs: dict[str, Any] = {}
        if model not in EXTRACTOR_BASELINES:  # diffusion models take sampling options and report steps
            if steps:
                kwargs["num_inference_steps"] = int(steps)
            kwargs["callback_on_step_end"] = _step_callback(report, _default_steps(extractor, steps), "Extracting")
        _report(report, 0.0, "Extracting")
        with self.models.running(model):
            out = peel(extractor, image, prompt, seed=int(seed), **kwargs)
        obj = out[1]
        box = obj.content_bbox(threshold=0.5)
        if box is None:
            raise LayerdiffError(f"nothing found for {prompt.describe()!r} with {model}: the stack is unchanged; "
                                 "click on the object itself, draw a box around it or name its colour")
        return out, 1, f"Extracted {obj.name!r} (box {box}) from layer {image[0].name!r} with {model}"

    # -------------------------------------------------------------- export
    def export(self, image: LayeredImage | None, fmt: str) -> Path:
        """Write the stack as ``fmt`` ("psd", "ora" or "zip") into a fresh folder of the app's temp dir."""
        from layerdiff.io import save

        if fmt not in EXPORT_FORMATS:
            raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
        if image is None or len(image) == 0:
            raise LayerdiffError("nothing to download yet: open, decompose or generate an image first")
        _prune(self.settings.work_dir, EXPORT_MAX_AGE_S)
        folder = self.settings.work_dir / uuid.uuid4().hex
        folder.mkdir(parents=True)
        return save(image, folder / f"layers.{fmt}")


def _report(report: Report | None, value: Any, desc: str) -> None:
    if report is not None:
        report(value, desc)


def _prune(work_dir: Path, max_age_s: float) -> None:
    """Remove export folders older than ``max_age_s`` (Gradio has copied them into its cache by then)."""
    now = time.time()
    for child in work_dir.iterdir() if work_dir.is_dir() else ():
        if child.is_dir() and now - child.stat().st_mtime > max_age_s:
            shutil.rmtree(child, ignore_errors=True)


def parse_css_color(color: str | None) -> str:
    """'#rgb', '#rrggbb', 'rgb(r, g, b)' or 'rgba(r, g, b, a)' (what colour pickers send) -> '#rrggbb'."""
    text = (color or "").strip().lower()
    if re.fullmatch(r"#[0-9a-f]{6}", text):
        return text
    if re.fullmatch(r"#[0-9a-f]{3}", text):
        return "#" + "".join(c * 2 for c in text[1:])
    m = re.fullmatch(r"rgba?\(\s*([\d.]+)\s*,\s*([\d.]+)\s*,\s*([\d.]+)\s*(?:,\s*[\d.]+\s*)?\)", text)
    if m:
        values = [min(255, round(float(v))) for v in m.groups()]
        return "#" + "".join(f"{v:02x}" for v in values)
    raise ValueError(f"colour {color!r} is not '#rrggbb' or 'rgb(r, g, b)'")


# --------------------------------------------------------------------------- views
def on_checkerboard(rgba: np.ndarray, max_side: int, min_side: int = 0) -> np.ndarray:
    """(H, W, 4) float straight RGBA -> (h, w, 3) uint8 over a grey checkerboard.

    The longest side is shrunk to ``max_side``, or enlarged by a whole factor (pixels stay sharp)
    while it is under ``min_side``.
    """
    pil = Image.fromarray(from_float(rgba, 8), "RGBA")
    if max(pil.size) > max_side:
        pil.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    elif max(pil.size) < min_side:
        factor = -(-min_side // max(pil.size))  # ceil
        pil = pil.resize((pil.width * factor, pil.height * factor), Image.Resampling.NEAREST)
    px = np.asarray(pil).astype(np.float32) / 255.0  # (h, w, 4)
    h, w = px.shape[:2]
    square = max(4, min(16, max(h, w) // 24))
    yy, xx = np.mgrid[0:h, 0:w]
    board = np.where(((yy // square) + (xx // square)) % 2 == 0, 0.80, 0.95).astype(np.float32)[..., None]
    out = px[..., :3] * px[..., 3:] + board * (1.0 - px[..., 3:])  # (h, w, 3)
    return from_float(out, 8)


def layer_label(image: LayeredImage, index: int) -> str:
    layer = image[index]
    return f"{index} · {layer.name}" + ("" if layer.visible else " (hidden)")


def layer_gallery(image: LayeredImage) -> list[tuple[np.ndarray, str]]:
    """One (thumbnail on a checkerboard, caption) per layer, bottom to top; opacity folded in."""
    planes = image.to_numpy(include_hidden=True)  # (L, H, W, 4)
    return [(on_checkerboard(planes[i], THUMB_SIDE), layer_label(image, i)) for i in range(len(image))]


def composite_preview(image: LayeredImage) -> np.ndarray:
    """The composite of the visible layers on a checkerboard: (h, w, 3) uint8."""
    return on_checkerboard(image.composite(), PREVIEW_SIDE, PREVIEW_MIN_SIDE)


def describe(image: LayeredImage) -> str:
    hidden = sum(not layer.visible for layer in image)
    extra = f", {hidden} hidden" if hidden else ""
    count = f"{len(image)} layer" + ("" if len(image) == 1 else "s")
    return f"**{count}**{extra} · {image.width}×{image.height} px"


# --------------------------------------------------------------------------- extract tab: clicks
@dataclass(frozen=True)
class ClickPrompt:
    """The Extract tab's prompt: what was clicked on its canvas, in pixels of the image shown there.

    ``size`` is that image's (W, H) and ``preview`` the (w, h) of the canvas it was drawn on (the image
    shrunk to :data:`PREVIEW_SIDE` or enlarged to :data:`PREVIEW_MIN_SIDE`); a click's ``evt.index`` is a
    pixel of the canvas. ``points`` are ``(x, y, label)`` with label 1 (include) or 0 (exclude); ``box`` is
    ``(x0, y0, x1, y1)`` with exclusive right/bottom edges; ``corner`` is the first corner of a box whose
    opposite corner is not clicked yet.
    """

    size: tuple[int, int] = (0, 0)
    preview: tuple[int, int] = (0, 0)
    points: tuple[tuple[int, int, int], ...] = ()
    box: tuple[int, int, int, int] | None = None
    corner: tuple[int, int] | None = None

    @property
    def empty(self) -> bool:
        """No point, box or corner clicked yet."""
        return not self.points and self.box is None and self.corner is None

    def to_pixel(self, index: Any) -> tuple[int, int]:
        """A canvas pixel ``[x, y]`` (``gr.SelectData.index``) -> the image pixel (x, y) under it."""
        (w, h), (pw, ph) = self.size, self.preview
        if min(w, h, pw, ph) < 1:
            raise LayerdiffError("nothing to click on yet: open, decompose or generate an image first")
        try:
            px, py = (float(v) for v in index)
        except (TypeError, ValueError):
            raise LayerdiffError(f"a click must be [x, y] on the canvas, got {index!r}") from None
        if not (0 <= px < pw and 0 <= py < ph):
            raise LayerdiffError(f"click ({px:g}, {py:g}) is outside the {pw}x{ph} canvas")
        return min(w - 1, int((px + 0.5) * w / pw)), min(h - 1, int((py + 0.5) * h / ph))

    def click(self, mode: str, index: Any) -> ClickPrompt:
        """The prompt after a click at canvas pixel ``index`` in ``mode`` (see :data:`CLICK_MODES`):
        "include"/"exclude" add a point; "box" sets the first corner, then the opposite one (the box holds
        both clicked pixels; a third click starts a new box)."""
        if mode not in CLICK_MODES:
            raise ValueError(f"unknown click mode {mode!r}; known: {', '.join(CLICK_MODES)}")
        x, y = self.to_pixel(index)
        if mode in ("include", "exclude"):
            if len(self.points) >= MAX_CLICK_POINTS:
                raise LayerdiffError(f"at most {MAX_CLICK_POINTS} points: press *Clear prompt* to start again")
            return replace(self, points=(*self.points, (x, y, int(mode == "include"))))
        if self.corner is None:
            return replace(self, box=None, corner=(x, y))
        (cx, cy) = self.corner
        box = (min(cx, x), min(cy, y), max(cx, x) + 1, max(cy, y) + 1)
        return replace(self, box=box, corner=None)

    def referring(self, text: str = "", size: tuple[int, int] | None = None) -> ReferringPrompt:
        """The :class:`~layerdiff.referring.ReferringPrompt` of these clicks and the phrase ``text``, checked
        against the (W, H) ``size`` of the image it will be applied to."""
        from layerdiff.referring import ReferringPrompt

        text = " ".join((text or "").split())
        positive = any(label for _, _, label in self.points)
        if not (positive or self.box is not None or text):
            if self.corner is not None:
                raise LayerdiffError("the box has one corner only: click its opposite corner")
            what = "only excluded points" if self.points else "no prompt given"
            raise LayerdiffError(f"{what}: click the object (an include point or two box corners) or type "
                                 "a phrase")
        if size is not None and not self.empty and tuple(size) != tuple(self.size):
            raise LayerdiffError(f"the clicks were made on a {self.size[0]}x{self.size[1]} image but the bottom "
                                 f"layer is {size[0]}x{size[1]}: press *Clear prompt* and click again")
        return ReferringPrompt(points=list(self.points), box=self.box, text=text)

    def describe(self) -> str:
        """One line for the UI: what the prompt holds, or what to click next."""
        if self.size == (0, 0):
            return "Open, decompose or generate an image first; its bottom layer shows here."
        parts = []
        include = sum(label for _, _, label in self.points)
        if include:
            parts.append(f"{include} include point" + ("s" if include > 1 else ""))
        if len(self.points) - include:
            exclude = len(self.points) - include
            parts.append(f"{exclude} exclude point" + ("s" if exclude > 1 else ""))
        if self.box is not None:
            x0, y0, x1, y1 = self.box
            parts.append(f"box ({x0}, {y0})–({x1}, {y1})")
        if self.corner is not None:
            parts.append(f"box corner ({self.corner[0]}, {self.corner[1]}): click the opposite corner")
        if not parts:
            return "Click the object (or two corners of a box around it), or type a phrase; then *Extract*."
        return "Prompt: " + ", ".join(parts) + "."


def extract_source(image: LayeredImage) -> np.ndarray:
    """What the Extract tab extracts from: the bottom layer on the canvas, opacity folded in (H, W, 4)."""
    from layerdiff.pipelines.extract import bottom_pixels

    return bottom_pixels(image)


def extract_canvas(image: LayeredImage | None, prompt: ClickPrompt | None = None
                   ) -> tuple[np.ndarray | None, ClickPrompt]:
    """The Extract tab's canvas: the bottom layer of ``image`` on a checkerboard with ``prompt`` drawn on
    it (points as dots, green include / red exclude; the box as a yellow rectangle; a pending corner as a
    cross), and the prompt bound to this canvas (a fresh one when the image size changed)."""
    if image is None or len(image) == 0:
        return None, ClickPrompt()
    canvas = on_checkerboard(extract_source(image), PREVIEW_SIDE, PREVIEW_MIN_SIDE)  # (h, w, 3) uint8
    preview = (canvas.shape[1], canvas.shape[0])
    if prompt is None or prompt.size != image.size:
        prompt = ClickPrompt(size=image.size, preview=preview)
    else:
        prompt = replace(prompt, preview=preview)
    return draw_prompt(canvas, prompt), prompt


def draw_prompt(canvas: np.ndarray, prompt: ClickPrompt) -> np.ndarray:
    """``canvas`` (h, w, 3) uint8 with the clicks of ``prompt`` drawn on a copy."""
    from PIL import ImageDraw

    pil = Image.fromarray(canvas)
    draw = ImageDraw.Draw(pil)
    (w, h), (pw, ph) = prompt.size, (pil.width, pil.height)
    sx, sy = pw / max(1, w), ph / max(1, h)
    r = max(4, round(max(pw, ph) / 90))
    if prompt.box is not None:
        x0, y0, x1, y1 = prompt.box
        edges = (x0 * sx, y0 * sy, max(x0 * sx, x1 * sx - 1), max(y0 * sy, y1 * sy - 1))
        draw.rectangle(edges, outline=(20, 20, 20), width=max(3, r // 2 + 1))
        draw.rectangle(edges, outline=BOX_COLOR, width=max(2, r // 3))
    if prompt.corner is not None:
        cx, cy = (prompt.corner[0] + 0.5) * sx, (prompt.corner[1] + 0.5) * sy
        for dx, dy in ((2 * r, 0), (0, 2 * r)):
            draw.line((cx - dx, cy - dy, cx + dx, cy + dy), fill=(20, 20, 20), width=max(4, r // 2 + 2))
            draw.line((cx - dx, cy - dy, cx + dx, cy + dy), fill=BOX_COLOR, width=max(2, r // 3))
    for x, y, label in prompt.points:
        cx, cy = (x + 0.5) * sx, (y + 0.5) * sy
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=INCLUDE_COLOR if label else EXCLUDE_COLOR,
                     outline=(255, 255, 255), width=max(1, r // 4))
    return np.asarray(pil)


# --------------------------------------------------------------------------- UI
def max_layers_of(name: str | None) -> int:
    """The most layers registry model ``name`` handles (the layer sliders' maximum)."""
    from layerdiff.registry import get_preset

    return max(1, get_preset(name).max_layers) if name else 8


def steps_of(name: str | None, task: str = "") -> int:
    """The default number of sampling steps of registry model ``name`` (for ``task``: "generate" has its own)."""
    from layerdiff.registry import default_steps, get_preset

    return default_steps(get_preset(name).defaults if name else {}, task)


def offered_models(names: Sequence[str], default_model: str) -> list[str]:
    """The registry models the UI lists: those whose weights are on this machine (or need none), so that a
    visitor's click never starts a hub download; the server's ``default_model`` is always listed."""
    from layerdiff.registry import get_preset

    return [n for n in names if n == default_model or not isinstance(get_preset(n).weights_path(), str)]


def decompose_model_changed(model: str, layers: float) -> Any:
    """The layer slider for a newly chosen decomposer: its maximum, the value clipped to it."""
    top = max_layers_of(model)
    return gr.Slider(maximum=top, value=min(int(layers), top))


def generative_model_changed(model: str, layers: float) -> tuple[Any, Any]:
    """The layer and step sliders for a newly chosen diffusion model."""
    top = max_layers_of(model)
    return gr.Slider(maximum=top, value=min(int(layers), top)), gr.Slider(value=steps_of(model, "generate"))


def _user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Show layerdiff's one-line input errors in the UI (and to API clients) instead of a bare 'Error'."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (LayerdiffError, ValueError, KeyError, IndexError) as err:
            text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
            raise gr.Error(text, duration=20) from None

    return wrapper


def _progress(progress: gr.Progress) -> Report:
    return lambda value, desc: progress(value, desc=desc)


def _view(image: LayeredImage, message: str, selected: int | None = None) -> tuple[Any, ...]:
    """Outputs [gallery, composite, status, layer dropdown, state] for a new current stack."""
    choices = [(layer_label(image, i), i) for i in range(len(image))]
    value = selected if selected is not None and 0 <= selected < len(image) else len(image) - 1
    return (layer_gallery(image), composite_preview(image), f"{message}  \n{describe(image)}",
            gr.Dropdown(choices=choices, value=value), image)


def build_app(default_model: str | None = None, max_upload_mb: float = 50.0, concurrency: int = 1,
              max_pixels: int = DEFAULT_MAX_PIXELS, work_dir: str | Path | None = None) -> gr.Blocks:
    """Build the demo (not launched). ``default_model``: the decomposer preselected (default
    ``$LAYERDIFF_DEMO_MODEL`` or layerdiff-tiny); ``max_upload_mb``: the upload limit (also passed to
    Gradio's ``max_file_size`` by :func:`launch_options`); ``concurrency``: model runs at once;
    ``max_pixels``: the largest canvas read; ``work_dir``: where downloads are written (default: a
    fresh temp folder removed at exit)."""
    from layerdiff.cli.demo import DEFAULT_MODEL, ENV_MODEL
    from layerdiff.referring import EXTRACTOR_BASELINES
    from layerdiff.registry import decomposer_names, get_preset, model_names
    from layerdiff.samples import SAMPLES_DIR

    default_model = default_model or os.environ.get(ENV_MODEL) or DEFAULT_MODEL
    get_preset(default_model)  # unknown name -> UnknownModelError listing the known ones
    if max_upload_mb <= 0 or concurrency < 1 or max_pixels < 1:
        raise ValueError(f"max_upload_mb, concurrency and max_pixels must be positive, got {max_upload_mb}, "
                         f"{concurrency}, {max_pixels}")
    decomposers = offered_models(decomposer_names(), default_model)
    generative = offered_models(model_names("layerdiff"), default_model)
    extractors = [*EXTRACTOR_BASELINES, *generative]  # the choices of `layerdiff extract --model`
    gen_default = default_model if default_model in generative else (generative[0] if generative else None)
    if work_dir is None:
        work_dir = Path(tempfile.mkdtemp(prefix="layerdiff-demo-"))
        atexit.register(shutil.rmtree, work_dir, True)
    settings = DemoSettings(default_model, gen_default, float(max_upload_mb), int(concurrency),
                            int(max_pixels), Path(work_dir))
    backend = DemoBackend(settings)

    # ------------------------------------------------------------ handlers
    @_user_errors
    def open_upload(path: str | None) -> tuple[Any, ...]:
        if path is None:
            return gr.skip(), gr.skip(), "Upload an image, a PSD or an ORA file.", gr.skip(), gr.skip()
        try:
            image = backend.open(path)
        except LayerdiffError as err:
            gr.Warning(str(err))
            return gr.skip(), gr.skip(), f"**Could not open the file.** {err}", gr.skip(), gr.skip()
        kind = "a layered file" if len(image) > 1 else "a flat image"
        return _view(image, f"Opened {Path(path).name} ({kind}); press *Decompose* to split its composite.")

    @_user_errors
    def decompose(path: str | None, automatic: bool, layers: float, model: str, seed: float, steps: float,
                  progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:
        t0 = time.perf_counter()
        image = backend.decompose(path, bool(automatic), int(layers), model, int(seed or 0), int(steps or 0),
                                  _progress(progress))
        name = Path(path).name if path else "image"
        return _view(image, f"Decomposed {name} with {model} in {time.perf_counter() - t0:.1f} s.")

    @_user_errors
    def generate(prompt: str, layers: float, model: str, seed: float, steps: float, layer_prompts: str = "",
                 progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:
        t0 = time.perf_counter()
        image = backend.generate(prompt, int(layers), model, int(seed or 0), int(steps or 0),
                                 _progress(progress), layer_prompts=layer_prompts or "")
        return _view(image, f"Generated {prompt!r} with {model} in {time.perf_counter() - t0:.1f} s.")

    def edit_handler(operation: str) -> Callable[..., tuple[Any, ...]]:
        @_user_errors
        def edit(image: LayeredImage | None, layer: int | None, dx: float, dy: float, color: str,
                 prompt: str, model: str, seed: float, steps: float,
                 progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:
            edited, selected, message = backend.edit(
                image, layer, operation, dx=int(dx or 0), dy=int(dy or 0), color=color, prompt=prompt,
                model=model, seed=int(seed or 0), steps=int(steps or 0), report=_progress(progress))
            return _view(edited, message + ".", selected)

        edit.__name__ = f"edit_{operation}"
        return edit

    def export_handler(fmt: str) -> Callable[[LayeredImage | None], str]:
        @_user_errors
        def export(image: LayeredImage | None) -> str:
            return str(backend.export(image, fmt))

        export.__name__ = f"export_{fmt}"
        return export

    def select_layer(evt: gr.SelectData) -> int:
        return int(evt.index)

    def extract_opened(image: LayeredImage | None, prompt: ClickPrompt | None) -> tuple[Any, ...]:
        """[canvas, click prompt, info] for the current stack (the tab opened, the stack changed)."""
        canvas, prompt = extract_canvas(image, prompt)
        return canvas, prompt, prompt.describe()

    @_user_errors
    def extract_upload(path: str | None, prompt: ClickPrompt | None) -> tuple[Any, ...]:
        if path is None:
            return (gr.skip(),) * 8
        try:
            image = backend.open(path)
        except LayerdiffError as err:
            gr.Warning(str(err))
            return (*(gr.skip(),) * 7, f"**Could not open the file.** {err}")
        view = _view(image, f"Opened {Path(path).name}; click the object to extract on the *Extract* tab.")
        return (*view, *extract_opened(image, None))

    def extract_click(image: LayeredImage | None, prompt: ClickPrompt | None, mode: str,
                      evt: gr.SelectData) -> tuple[Any, ...]:
        """A click on the canvas: add a point or a box corner; a bad click leaves a one-line message."""
        prompt = prompt if prompt is not None else ClickPrompt()
        try:
            prompt = prompt.click(mode, evt.index)
        except (LayerdiffError, ValueError) as err:
            return gr.skip(), gr.skip(), f"**Could not use the click.** {err}"
        canvas, prompt = extract_canvas(image, prompt)
        return canvas, prompt, prompt.describe()

    def extract_clear(image: LayeredImage | None) -> tuple[Any, ...]:
        return extract_opened(image, None)

    @_user_errors
    def extract(image: LayeredImage | None, prompt: ClickPrompt | None, text: str, model: str, seed: float,
                steps: float, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:
        """Extract the prompted object from the bottom layer; a bad prompt or an empty result leaves the stack
        as it is and says why in one line."""
        t0 = time.perf_counter()
        prompt = prompt if prompt is not None else ClickPrompt()
        try:
            if image is None or len(image) == 0:
                raise LayerdiffError("nothing to extract from yet: open, decompose or generate an image first")
            referring = prompt.referring(text, image.size)
            result, selected, message = backend.extract(image, referring, model, int(seed or 0),
                                                        int(steps or 0), _progress(progress))
        except (LayerdiffError, ValueError) as err:
            gr.Warning(str(err))
            return (*(gr.skip(),) * 7, f"**Could not extract.** {err}")
        seconds = time.perf_counter() - t0
        canvas, fresh = extract_canvas(result, None)
        return (*_view(result, f"{message} in {seconds:.1f} s.", selected), canvas, fresh,
                f"Extracted in {seconds:.1f} s. The canvas now shows the filled background: click the next "
                "object to peel it off.")

    # -------------------------------------------------------------- layout
    with gr.Blocks(title="layerdiff demo", delete_cache=(900, 3600)) as app:
        gr.Markdown("# layerdiff\nTurn a flat image into editable RGBA layers, generate layers from text, "
                    "edit one layer, and download the stack as PSD, ORA or PNGs.")
        stack = gr.State(None, time_to_live=3600)
        click_prompt = gr.State(ClickPrompt(), time_to_live=3600)
        with gr.Row():
            with gr.Column(scale=2, min_width=320):
                with gr.Tabs():
                    with gr.Tab("Decompose", id="decompose"):
                        upload = gr.File(label="Image, PSD or ORA", file_types=INPUT_TYPES, type="filepath",
                                         elem_id="upload")
                        with gr.Row():
                            automatic = gr.Checkbox(True, label="Automatic layer count", elem_id="automatic")
                            top = max_layers_of(default_model)
                            layers = gr.Slider(1, top, value=min(4, top), step=1, label="Layers",
                                               info="the upper bound when automatic", elem_id="layers")
                        model = gr.Dropdown(decomposers, value=default_model, label="Model", elem_id="model")
                        with gr.Accordion("Sampling (diffusion models)", open=False):
                            seed = gr.Number(0, precision=0, label="Seed")
                            steps = gr.Slider(0, 50, value=0, step=1, label="Steps (0 = the model's default)")
                        decompose_btn = gr.Button("Decompose", variant="primary", elem_id="decompose")
                        gr.Examples([[str(SAMPLES_DIR / "poster.png")], [str(SAMPLES_DIR / "poster.psd")]],
                                    inputs=[upload], label="Samples")
                    with gr.Tab("Generate", id="generate"):
                        prompt = gr.Textbox(label="Prompt", elem_id="prompt",
                                            placeholder="a poster with a red circle on a blue sky")
                        gen_top = max_layers_of(gen_default)
                        gen_layers = gr.Slider(1, gen_top, value=min(3, gen_top), step=1,
                                               label="Layers (background included)")
                        # the placeholder is an example shown in the empty box, not a default value
                        gen_layer_prompts = gr.Textbox(
                            label="Layer prompts (optional: one per line, bottom layer first)", lines=3,
                            elem_id="layer-prompts", placeholder="a navy background\na red circle")
                        gen_model = gr.Dropdown(generative, value=gen_default, label="Model")
                        with gr.Row():
                            gen_seed = gr.Number(0, precision=0, label="Seed")
                            gen_steps = gr.Slider(1, 50, value=steps_of(gen_default, "generate"), step=1, label="Steps")
                        generate_btn = gr.Button("Generate", variant="primary", elem_id="generate")
                    with gr.Tab("Edit", id="edit"):
                        layer_dd = gr.Dropdown([], label="Layer (0 = bottom; or click a thumbnail)",
                                               type="value", elem_id="layer-select")
                        with gr.Row():
                            toggle_btn = gr.Button("Hide / show", elem_id="edit-toggle")
                            delete_btn = gr.Button("Delete", variant="stop", elem_id="edit-delete")
                            up_btn = gr.Button("Up ↑", elem_id="edit-up")
                            down_btn = gr.Button("Down ↓", elem_id="edit-down")
                        with gr.Row(equal_height=True):
                            dx = gr.Number(0, precision=0, label="dx (px)", min_width=80)
                            dy = gr.Number(0, precision=0, label="dy (px)", min_width=80)
                            move_btn = gr.Button("Move", elem_id="edit-move")
                        with gr.Row(equal_height=True):
                            color = gr.ColorPicker("#e03c31", label="Colour")
                            recolor_btn = gr.Button("Recolour", elem_id="edit-recolor")
                        with gr.Group():
                            regen_prompt = gr.Textbox(label="Regenerate the layer from a prompt")
                            with gr.Row():
                                edit_model = gr.Dropdown(generative, value=gen_default, label="Model")
                                edit_seed = gr.Number(0, precision=0, label="Seed")
                                edit_steps = gr.Slider(0, 50, value=0, step=1, label="Steps (0 = default)")
                            regen_btn = gr.Button("Regenerate", elem_id="edit-regenerate")
                    with gr.Tab("Extract", id="extract") as extract_tab:
                        extract_info = gr.Markdown(ClickPrompt().describe(), elem_id="extract-info")
                        extract_image = gr.Image(label="Bottom layer: click the object", type="numpy",
                                                format="png", interactive=False, buttons=[],
                                                elem_id="extract-canvas")
                        click_mode = gr.Radio([(label, key) for key, label in CLICK_MODES.items()],
                                              value="include", label="A click adds", elem_id="click-mode")
                        extract_text = gr.Textbox(label="Phrase (optional)", elem_id="extract-text",
                                                  placeholder="the yellow circle")
                        extract_model = gr.Dropdown(extractors, value=extractors[0], label="Extractor",
                                                    elem_id="extract-model")
                        with gr.Accordion("Sampling (diffusion models)", open=False):
                            with gr.Row():
                                extract_seed = gr.Number(0, precision=0, label="Seed")
                                extract_steps = gr.Slider(0, 50, value=0, step=1, label="Steps (0 = default)")
                        with gr.Row():
                            extract_btn = gr.Button("Extract", variant="primary", elem_id="extract")
                            clear_btn = gr.Button("Clear prompt", elem_id="extract-clear")
                        extract_file = gr.File(label="Or open another image here", file_types=INPUT_TYPES,
                                               type="filepath", height=110, elem_id="extract-upload")
            with gr.Column(scale=3, min_width=360):
                status = gr.Markdown("Upload an image, a PSD or an ORA file, or generate one.",
                                     label="Status", elem_id="status")
                composite = gr.Image(label="Composite", type="numpy", format="png", interactive=False,
                                     elem_id="composite")
                gallery = gr.Gallery(label="Layers, bottom to top", columns=4, format="png",
                                     object_fit="contain", height="auto", allow_preview=False,
                                     elem_id="gallery")
                with gr.Row():
                    export_btns = {fmt: gr.Button(f"Download {label}", size="sm", elem_id=f"export-{fmt}")
                                   for fmt, label in EXPORT_FORMATS.items()}
                download = gr.File(label="Download", interactive=False, visible=False, elem_id="download")

        view = [gallery, composite, status, layer_dd, stack]
        upload.change(open_upload, [upload], view, api_name="open")
        decompose_btn.click(decompose, [upload, automatic, layers, model, seed, steps], view,
                            api_name="decompose")
        generate_btn.click(generate, [prompt, gen_layers, gen_model, gen_seed, gen_steps, gen_layer_prompts], view,
                           api_name="generate")
        edit_inputs = [stack, layer_dd, dx, dy, color, regen_prompt, edit_model, edit_seed, edit_steps]
        for operation, button in [("toggle", toggle_btn), ("delete", delete_btn), ("up", up_btn),
                                  ("down", down_btn), ("move", move_btn), ("recolor", recolor_btn),
                                  ("regenerate", regen_btn)]:
            button.click(edit_handler(operation), edit_inputs, view, api_name=f"edit_{operation}")
        for fmt, button in export_btns.items():
            button.click(lambda: gr.File(visible=True), None, [download], api_visibility="private").then(
                export_handler(fmt), [stack], [download], api_name=f"export_{fmt}")
        model.change(decompose_model_changed, [model, layers], [layers], api_visibility="private")
        gen_model.change(generative_model_changed, [gen_model, gen_layers], [gen_layers, gen_steps],
                         api_visibility="private")
        gallery.select(select_layer, None, [layer_dd], api_visibility="private")
        extract_out = [extract_image, click_prompt, extract_info]
        extract_tab.select(extract_opened, [stack, click_prompt], extract_out, api_visibility="private")
        extract_image.select(extract_click, [stack, click_prompt, click_mode], extract_out,
                            api_visibility="private")
        clear_btn.click(extract_clear, [stack], extract_out, api_visibility="private")
        extract_file.change(extract_upload, [extract_file, click_prompt], view + extract_out,
                            api_visibility="private")
        extract_btn.click(extract, [stack, click_prompt, extract_text, extract_model, extract_seed, extract_steps],
                          view + extract_out, api_name="extract")

    app.queue(default_concurrency_limit=int(concurrency), max_size=64)
    app.layerdiff_settings = settings
    app.layerdiff_backend = backend
    return app


def launch_options(app: gr.Blocks, host: str = "127.0.0.1", port: int = 7860) -> dict[str, Any]:
    """Keyword arguments for ``app.launch``: loopback by default, the upload limit, no share link."""
    from layerdiff.samples import SAMPLES_DIR

    settings: DemoSettings = app.layerdiff_settings
    return dict(server_name=host, server_port=int(port), share=False, ssr_mode=False, inbrowser=False,
                max_file_size=int(settings.max_upload_mb * 1024 * 1024), allowed_paths=[str(SAMPLES_DIR)],
                show_error=False)


def serve(host: str = "127.0.0.1", port: int = 7860, default_model: str | None = None,
          max_upload_mb: float = 50.0, concurrency: int = 1) -> int:
    """Build and launch the demo; blocks until the server stops. Returns an exit code."""
    app = build_app(default_model=default_model, max_upload_mb=max_upload_mb, concurrency=concurrency)
    settings: DemoSettings = app.layerdiff_settings
    print(f"layerdiff demo: http://{host}:{port} (model {settings.default_model}; downloads are written to "
          f"{settings.work_dir}, removed at exit)", flush=True)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM stops the server like Ctrl+C
    app.launch(**launch_options(app, host, port), prevent_thread_lock=True)
    try:
        while app.is_running:
            time.sleep(0.2)
    except KeyboardInterrupt:
        print("layerdiff demo: stopping", flush=True)
    finally:
        shutil.rmtree(settings.work_dir, ignore_errors=True)  # before the (possibly slow) server shutdown
        app.close()
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """``python demo/app.py [--host H] [--port P] [--model NAME] [--max-upload-mb MB] [--concurrency N]``."""
    from layerdiff.cli.demo import add_arguments

    parser = argparse.ArgumentParser(prog="python demo/app.py", description="Serve the layerdiff web demo.")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return serve(host=args.host, port=args.port, default_model=args.model,
                     max_upload_mb=args.max_upload_mb, concurrency=args.concurrency)
    except (LayerdiffError, ValueError) as err:
        print(f"layerdiff demo: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
