"""What the demo's events call: read uploads, run models, edit, undo, export. Plain Python (no Gradio).

Models come from :func:`layerdiff.load` only (it caches them and shares a model's components across
tasks) and are used through their contracts: a decomposer's ``decompose``, an extractor's ``extract``
(through :func:`~layerdiff.pipelines.extract.peel`), the generation and editing pipelines' ``__call__``.
Edits are :func:`layerdiff.edit_ops.apply` operations. Every user-facing failure is a
:class:`~layerdiff.errors.LayerdiffError` or ``ValueError`` with a one-line message.

A browser session holds one :class:`Session`: the current stack, the name its downloads take and a
bounded undo history (a number of steps, and a budget for the pixels that only the history keeps
alive). A new upload, decomposition or generation starts a new session, which drops the old stacks.
"""

from __future__ import annotations

import copy
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layerdiff.errors import LayerdiffError, LayeredFileError
from layerdiff.layered import LayeredImage

from .views import fresh_folder, parse_css_color

if TYPE_CHECKING:
    from layerdiff.planning import LayerPlan
    from layerdiff.referring import ReferringPrompt
    from layerdiff.text import TextInfo

EXPORT_FORMATS = {"psd": "PSD", "ora": "ORA", "zip": "ZIP of PNGs", "svg": "SVG"}
EDIT_OPERATIONS = ("toggle", "delete", "up", "down", "move", "recolor", "regenerate")
DEFAULT_MAX_PIXELS = 4096 * 4096
DEFAULT_MAX_FILE_LAYERS = 256
DEFAULT_MAX_DECODED_MB = 1024.0  # one upload, decoded (the library's decoded-size budget)
MAX_PLAN_LAYERS = 16  # a plan's layers, background included (each object is sampled on its own)
MAX_PLAN_CHARS = 100_000  # the JSON of an edited plan
UNDO_STEPS = 10
UNDO_BYTES = 512 * 1024**2  # pixels kept alive only by the undo history
EXPORT_MAX_AGE_S = 3600.0
Report = Callable[[Any, str], None]  # report(progress value or (step, total), description)


@dataclass(frozen=True)
class DemoSettings:
    """What an app was built with. ``work_dir`` holds the files sent to the browser (pictures, downloads)."""

    default_model: str
    generative_model: str | None
    max_upload_mb: float
    concurrency: int
    max_pixels: int
    work_dir: Path
    max_decoded_mb: float = DEFAULT_MAX_DECODED_MB
    undo_steps: int = UNDO_STEPS
    undo_bytes: int = UNDO_BYTES


# --------------------------------------------------------------------------- session state
def _pixel_arrays(image: LayeredImage) -> dict[int, int]:
    """{id of a layer's pixel array: its bytes} of ``image``."""
    return {id(layer.stored): layer.nbytes for layer in image}  # native or float, as held (not converted)


@dataclass(frozen=True)
class Session:
    """One browser session's state: the current stack ``image``, the ``stem`` its downloads are named
    after (``<stem>_layers.psd``) and ``history``, the stacks before the last edits as (stack, what the
    edit did), oldest first."""

    image: LayeredImage | None = None
    stem: str = "layers"
    history: tuple[tuple[LayeredImage, str], ...] = ()

    @classmethod
    def start(cls, image: LayeredImage, stem: str) -> Session:
        """A session on a new stack (nothing to undo)."""
        return cls(image, safe_stem(stem))

    def edited(self, image: LayeredImage, message: str, steps: int = UNDO_STEPS,
               budget: int = UNDO_BYTES) -> Session:
        """This session after an edit that turned its stack into ``image``; the old stack goes to the
        history, which keeps at most ``steps`` stacks and at most ``budget`` bytes of pixels that the
        new stack does not share (the oldest stacks are dropped first)."""
        history = (*self.history, (self.image, message)) if self.image is not None else self.history
        history = history[-steps:] if steps > 0 else ()
        live = _pixel_arrays(image)
        while history:
            held: dict[int, int] = {}
            for old, _ in history:
                held.update(_pixel_arrays(old))
            if sum(n for key, n in held.items() if key not in live) <= budget:
                break
            history = history[1:]
        return replace(self, image=image, history=history)

    def undone(self) -> tuple[Session, str]:
        """This session with its last edit undone, and what that edit was."""
        if not self.history:
            raise LayerdiffError("nothing to undo")
        previous, message = self.history[-1]
        return replace(self, image=previous, history=self.history[:-1]), message

    @property
    def undo_steps(self) -> int:
        return len(self.history)


def safe_stem(text: str, fallback: str = "layers") -> str:
    """A file-name stem from an input's name or a prompt: letters, digits, ``-`` and ``_``, at most 48."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", text or "").strip("_-")[:48].rstrip("_-")
    return stem or fallback


# --------------------------------------------------------------------------- the backend
class DemoBackend:
    """The demo's operations on stacks; stateless apart from its settings (state lives in :class:`Session`)."""

    def __init__(self, settings: DemoSettings) -> None:
        self.settings = settings
        self._load_lock = threading.Lock()
        self._run_locks: dict[str, threading.Lock] = {}

    # ------------------------------------------------------------- models
    def model(self, name: str, task: str) -> Any:
        """``layerdiff.load(name, task)``, one load at a time (the loader caches what it built)."""
        from layerdiff.loader import load

        with self._load_lock:
            return load(name, task)

    def running(self, name: str) -> threading.Lock:
        """The lock held while model ``name`` samples (its pipelines share one scheduler)."""
        with self._load_lock:
            return self._run_locks.setdefault(name, threading.Lock())

    # -------------------------------------------------------------- input
    def open(self, path: str | Path | None) -> LayeredImage:
        """Read an upload with :func:`layerdiff.io.load` within the settings' limits: pixels, layers and the
        decoded size of the whole file, refused before decoding; errors name the file, not the server's
        temp path."""
        from layerdiff.io import Limits, load

        if path is None:
            raise LayerdiffError("no file: upload an image, PSD or ORA first")
        p = Path(path)
        if p.is_file() and p.stat().st_size > self.settings.max_upload_mb * 1024 * 1024:
            limit = self.settings.max_upload_mb
            raise LayerdiffError(f"{p.name}: file is larger than the {limit:g} MB limit")
        limits = Limits(max_pixels=self.settings.max_pixels, max_layers=DEFAULT_MAX_FILE_LAYERS,
                        max_decoded_bytes=max(1, int(self.settings.max_decoded_mb * 1024 * 1024)))
        try:
            return load(p, limits=limits)
        except LayeredFileError as err:
            raise LayeredFileError(p.name, err.problem, err.reason) from None
        except FileNotFoundError:
            raise LayerdiffError(f"{p.name}: the upload is gone; upload it again") from None
        except MemoryError:
            raise LayeredFileError(p.name, "too large to decode in this server's memory", "too-large") from None

    # -------------------------------------------------------------- model runs
    def decompose(self, path: str | Path | None, automatic: bool, layers: int, model: str, seed: int = 0,
                  steps: int = 0, report: Report | None = None) -> LayeredImage:
        """Decompose the flattened upload with model ``model`` into ``layers`` layers (or automatically,
        at most ``layers``)."""
        from layerdiff.contract import keep_bit_depth

        opened = self.open(path)
        image, depth = opened.composite(), opened.bit_depth  # (H, W, 4)
        del opened
        _report(report, 0.0, f"Loading {model}")
        decomposer = self.model(model, "decompose")
        count: int | str = "auto" if automatic else int(layers)
        options = {"steps": int(steps)} if steps and "steps" in decomposer.options else {}
        _report(report, 0.0, "Decomposing")
        with self.running(model):
            result = decomposer.decompose(image, count, max_layers=int(layers) if automatic else None,
                                          seed=int(seed), callback=_progress(report, "Decomposing"), **options)
        return keep_bit_depth(result, image, depth)  # a 16-bit upload gives 16-bit downloads

    def generate(self, prompt: str, layers: int, model: str, seed: int = 0, steps: int = 0,
                 report: Report | None = None, layer_prompts: str = "", width: int = 0,
                 height: int = 0) -> LayeredImage:
        """Text -> ``layers`` layers with the model's generation pipeline, from the whole caption (no plan).

        ``layer_prompts``: optional captions of the layers, one per line, bottom first (blank lines: none).
        ``width`` x ``height``: the output size (0 x 0: the model's own).
        """
        import torch

        size = self.output_size(width, height)
        lines = [line.strip() for line in (layer_prompts or "").splitlines()]
        while lines and not lines[-1]:
            lines.pop()
        _report(report, 0.0, f"Loading {model}")
        pipe = self.model(model, "generate")
        with self.running(model):
            out = pipe(prompt or "", num_layers=int(layers), layer_prompts=lines or None,
                       width=size[0], height=size[1], num_inference_steps=int(steps) or None,
                       generator=torch.Generator().manual_seed(int(seed)), output_type="np",
                       callback_on_step_end=_step_callback(report, _total_steps(pipe, steps),
                                                           "Generating"))
        return out.images[0]

    def output_size(self, width: int | float | None, height: int | float | None) -> tuple[int | None, int | None]:
        """A requested output size as (width, height) for the pipelines: (None, None) for 0 x 0 (the model's
        own size); a size over the settings' pixel limit, or only one side given, is a one-line error."""
        w, h = int(width or 0), int(height or 0)
        if w == 0 and h == 0:
            return None, None
        if w < 8 or h < 8:
            raise LayerdiffError(f"size {w}x{h}: give a width and a height of at least 8 px, or 0 x 0 for the "
                                 "model's own size")
        if w * h > self.settings.max_pixels:
            raise LayerdiffError(f"size {w}x{h} is larger than this server's {self.settings.max_pixels} pixels")
        return w, h

    # -------------------------------------------------------------- plans
    def plan(self, caption: str) -> LayerPlan:
        """The layer plan of ``caption`` (:func:`layerdiff.planning.plan_caption`, as ``layerdiff generate
        --show-plan`` prints it): the background, then one layer per object or quoted string, with boxes."""
        from layerdiff.planning import plan_caption

        if not (caption or "").strip():
            raise LayerdiffError("the caption is empty: describe the image, e.g. 'a red circle on a blue "
                                 "background'")
        return plan_caption(caption)

    def read_plan(self, text: str | None, caption: str = "") -> LayerPlan:
        """The plan in the JSON ``text`` (the form :meth:`LayerPlan.to_json` writes, as ``--plan`` reads it);
        blank ``text``: the plan of ``caption``.

        Raises:
            PlanError: not JSON, a bad field (named), too long, or more than :data:`MAX_PLAN_LAYERS` layers.
        """
        from layerdiff.planning import LayerPlan, PlanError

        if not (text or "").strip():
            return self.plan(caption)
        if len(text) > MAX_PLAN_CHARS:
            raise PlanError(f"plan: longer than {MAX_PLAN_CHARS} characters")
        plan = LayerPlan.from_json(text, "plan")
        if plan.num_layers > MAX_PLAN_LAYERS:
            raise PlanError(f"plan: {plan.num_layers} layers; this demo generates at most {MAX_PLAN_LAYERS} "
                            "(background included)")
        return plan

    def generate_plan(self, plan: LayerPlan, model: str, seed: int = 0, steps: int = 0, width: int = 0,
                      height: int = 0, report: Report | None = None) -> LayeredImage:
        """The layers of ``plan`` (as ``layerdiff generate --plan``): the background drawn exactly, each
        object generated in its own box, quoted text typeset as text layers. The plan is not changed; the
        result's ``metadata["plan"]`` is the plan as used, every box filled in."""
        from layerdiff.planning import generate_from_plan

        size = self.output_size(width, height)
        _report(report, 0.0, f"Loading {model}")
        pipe = self.model(model, "generate")
        _report(report, 0.0, f"Generating {plan.num_layers} layers from the plan")
        with self.running(model):
            return generate_from_plan(pipe, copy.deepcopy(plan), size[0], size[1], seed=int(seed),
                                      num_inference_steps=int(steps) or None)

    # ----------------------------------------------------------------- edits
    def edit(self, image: LayeredImage | None, layer: int | None, operation: str, dx: int = 0, dy: int = 0,
             color: str = "#ff0000", prompt: str = "", model: str | None = None, seed: int = 0,
             steps: int = 0, report: Report | None = None) -> tuple[LayeredImage, int, str]:
        """Apply one edit of :data:`EDIT_OPERATIONS` to layer ``layer`` (stack index, 0 = bottom).

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
        if operation == "regenerate":
            return self._regenerate(image, index, prompt, model, seed, steps, report)
        selected = index
        if operation == "toggle":
            op, args = ("show" if not image[index].visible else "hide"), {}
            message = f"{'Showed' if op == 'show' else 'Hid'} layer {name!r}"
        elif operation == "delete":
            op, args, selected = "delete", {}, max(0, min(index, n - 2))
            message = f"Deleted layer {name!r}"
        elif operation in ("up", "down"):
            selected = index + 1 if operation == "up" else index - 1
            if not 0 <= selected < n:
                where = "top" if operation == "up" else "bottom"
                raise LayerdiffError(f"layer {name!r} is already at the {where} of the stack")
            op, args, message = "reorder", {"index": selected}, f"Moved layer {name!r} {operation}"
        elif operation == "move":
            op, args = "move", {"dx": int(dx or 0), "dy": int(dy or 0)}
            message = f"Moved layer {name!r} by ({args['dx']}, {args['dy']}) px"
        else:
            op, args = "recolor", {"color": parse_css_color(color)}
            message = f"Recoloured layer {name!r} to {args['color']}"
            if image[index].text is not None:  # typeset again: the layer's text keeps its colour (SVG, edits)
                from layerdiff.text.edit import edit_text_layer

                return edit_text_layer(image, index, color=_rgb(args["color"])), index, message
        return edit_ops.apply(image, index, op, **args), selected, message

    def _regenerate(self, image: LayeredImage, index: int, prompt: str, model: str | None, seed: int,
                    steps: int, report: Report | None) -> tuple[LayeredImage, int, str]:
        import torch

        model = model or self.settings.generative_model
        if not model:
            raise LayerdiffError("no layerdiff diffusion model is registered; regeneration needs one")
        _report(report, 0.0, f"Loading {model}")
        pipe = self.model(model, "edit")
        with self.running(model):
            out = pipe(image, layer=index, operation="regenerate", prompt=prompt or "",
                       num_inference_steps=int(steps) or None,
                       generator=torch.Generator().manual_seed(int(seed)), output_type="np",
                       callback_on_step_end=_step_callback(report, _total_steps(pipe, steps), "Regenerating"))
        return out.images[0], index, f"Regenerated layer {image[index].name!r} from {prompt!r}"

    @staticmethod
    def text_of(image: LayeredImage | None, layer: int | None) -> TextInfo | None:
        """The :class:`~layerdiff.text.TextInfo` of layer ``layer`` (None: no such layer, or not a text layer)."""
        if image is None or layer is None or layer == "" or not -len(image) <= int(layer) < len(image):
            return None
        return image[int(layer)].text

    def edit_text(self, image: LayeredImage | None, layer: int | None, words: str | None = None,
                  color: str | None = None, font_size: float | None = None,
                  font_family: str | None = None) -> tuple[LayeredImage, int, str]:
        """Re-render text layer ``layer`` with the fields that differ from its :class:`~layerdiff.text.TextInfo`
        (new words, one line per line; a CSS colour; the size in px; an installed family) through
        :func:`layerdiff.text.edit.edit_text_layer`, as ``layerdiff edit IN --layer N --text ...`` does.

        Returns the new stack, the layer's index and a one-line description.

        Raises:
            LayerdiffError: no stack, no such layer, not a text layer, nothing changed, an unknown family.
        """
        from layerdiff.text.edit import edit_text_layer

        if image is None or len(image) == 0:
            raise LayerdiffError("nothing to edit yet: open, decompose or generate an image first")
        if layer is None or layer == "":
            raise LayerdiffError("choose a layer to edit")
        index = image.index_of(int(layer))
        info, name = image[index].text, image[index].name
        if info is None:
            raise LayerdiffError(f"layer {index} ({name!r}) is not a text layer")
        text = info.text if words is None else words.replace("\r\n", "\n")
        rgb = _rgb(parse_css_color(color)) if color else info.color
        size = float(font_size) if font_size else info.font_size
        family = (font_family or "").strip() or info.font_family
        changes = {"text": text if text != info.text else None,
                   "color": rgb if tuple(rgb) != tuple(info.color) else None,
                   "font_size": size if abs(size - info.font_size) > 0.005 else None,
                   "font_family": family if family != info.font_family else None}
        if all(value is None for value in changes.values()):
            raise LayerdiffError(f"text layer {name!r} already has these words, colour, size and font: change one "
                                 "of them first")
        if changes["font_size"] is not None and not 1 <= size <= 2 * max(image.size):
            raise LayerdiffError(f"font size {size:g} px is outside 1 to {2 * max(image.size)} px")
        try:
            edited = edit_text_layer(image, index, changes["text"], color=changes["color"],
                                     font_size=changes["font_size"], font_family=changes["font_family"])
        except LookupError as err:  # no fonts on this machine
            raise LayerdiffError(str(err.args[0]) if err.args else str(err)) from None
        said = [f"to {text!r}" if changes["text"] is not None else "",
                f"colour {parse_css_color(color)}" if changes["color"] is not None else "",
                f"{size:g} px" if changes["font_size"] is not None else "",
                f"font {family}" if changes["font_family"] is not None else ""]
        return edited, index, f"Changed text layer {name!r}: " + ", ".join(part for part in said if part)

    # --------------------------------------------------------------- extract
    def extract(self, image: LayeredImage | None, prompt: ReferringPrompt, model: str, seed: int = 0,
                steps: int = 0, report: Report | None = None) -> tuple[LayeredImage, int, str]:
        """Extract the object ``prompt`` names from the bottom layer of ``image`` with extractor ``model``
        (as ``layerdiff extract --model``) by :func:`~layerdiff.pipelines.extract.peel`: the bottom layer
        becomes the filled rest, the object is inserted just above it, the other layers stay as they are.

        Returns the new stack, the object's index (1) and a one-line description.

        Raises:
            LayerdiffError: no image, a prompt off the image (before any model loads), or nothing found.
        """
        from layerdiff.pipelines.extract import peel

        if image is None or len(image) == 0:
            raise LayerdiffError("nothing to extract from yet: open, decompose or generate an image first")
        prompt = prompt.in_pixels(image.size)  # bad prompts fail before the model loads
        _report(report, 0.0, f"Loading {model}")
        extractor = self.model(model, "extract")
        options = {"steps": int(steps)} if steps and "steps" in extractor.options else {}
        _report(report, 0.0, "Extracting")
        with self.running(model):
            out = peel(extractor, image, prompt, seed=int(seed), **options)
        if image.bit_depth == 16:  # the new pair, in place: it recomposes to the old bottom layer at 16 bits
            from layerdiff.contract import keep_bit_depth
            from layerdiff.pipelines.extract import bottom_pixels

            keep_bit_depth(LayeredImage(image.size, out.layers[:2]), bottom_pixels(image), 16)
        obj = out[1]
        box = obj.content_bbox(threshold=0.5)
        if box is None:
            raise LayerdiffError(f"nothing found for {prompt.describe()!r} with {model}: the stack is unchanged; "
                                 "click on the object itself, draw a box around it or name its colour")
        return out, 1, f"Extracted {obj.name!r} (box {box}) from layer {image[0].name!r} with {model}"

    # ---------------------------------------------------------------- export
    def export(self, image: LayeredImage | None, fmt: str, stem: str = "layers") -> Path:
        """Write the stack as ``fmt`` ("psd", "ora" or "zip") to ``<stem>_layers.<fmt>`` in a fresh folder
        of the work folder."""
        return self.exports(image, stem, (fmt,))[fmt]

    def exports(self, image: LayeredImage | None, stem: str = "layers",
                formats: tuple[str, ...] = tuple(EXPORT_FORMATS)) -> dict[str, Path]:
        """The stack written in each of ``formats`` into one fresh folder: {format: path}."""
        from layerdiff.io import save

        unknown = [fmt for fmt in formats if fmt not in EXPORT_FORMATS]
        if unknown:
            raise ValueError(f"unknown export format {unknown[0]!r}; choose one of {', '.join(EXPORT_FORMATS)}")
        if image is None or len(image) == 0:
            raise LayerdiffError("nothing to download yet: open, decompose or generate an image first")
        self.prune()
        folder = fresh_folder(self.settings.work_dir)
        stem = safe_stem(stem)
        name = "layers" if stem == "layers" else f"{stem}_layers"
        return {fmt: save(image, folder / f"{name}.{fmt}") for fmt in formats}

    def prune(self, max_age_s: float = EXPORT_MAX_AGE_S) -> None:
        """Remove work folders older than ``max_age_s`` (Gradio has copied their files into its cache)."""
        now = time.time()
        work_dir = self.settings.work_dir
        for child in work_dir.iterdir() if work_dir.is_dir() else ():
            if child.is_dir() and now - child.stat().st_mtime > max_age_s:
                shutil.rmtree(child, ignore_errors=True)


def _rgb(hex_color: str) -> tuple[int, int, int]:
    """'#rrggbb' -> (r, g, b) in 0-255."""
    return int(hex_color[1:3], 16), int(hex_color[3:5], 16), int(hex_color[5:7], 16)


def _report(report: Report | None, value: Any, desc: str) -> None:
    if report is not None:
        report(value, desc)


def _progress(report: Report | None, desc: str) -> Callable[[int, int], None] | None:
    """A contract ``callback(step, total)`` that reports to the UI's progress bar."""
    if report is None:
        return None
    return lambda step, total: report((int(step), int(total)), desc)


def _total_steps(pipe: Any, steps: int) -> int:
    """The sampling steps a call of ``pipe`` with ``steps`` (0: the model's default for the pipeline's task)
    will run, as the pipeline resolves them."""
    return pipe.sampling(int(steps) or None, None)[0]


def _step_callback(report: Report | None, total: int, desc: str) -> Callable[..., dict[str, Any]]:
    """A diffusers-style ``callback_on_step_end`` that reports (step, total) to the UI's progress bar."""

    def callback(pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        if report is not None:
            report((step + 1, total), desc)
        return {}

    return callback
