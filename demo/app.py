"""layerdiff's web demo: the Gradio wiring of :mod:`demo.backend` (models through :func:`layerdiff.load`,
edits, exports), :mod:`demo.views` (pictures) and :mod:`demo.clicks` (the Extract tab's clicks).

Four tabs share one layered image (the *current stack*), held per browser session in a
:class:`~demo.backend.Session` together with an undo history and the name downloads take:

- **Decompose**: upload a flat image or a layered file (PSD, ORA, zipped PNG stack); a layered
  file opens as it is, and *Decompose* splits its flattened composite with a registry model;
- **Generate**: caption -> layer plan (shown as a table and as editable JSON) -> layers with a layerdiff
  diffusion model (:mod:`layerdiff.planning`), or the whole caption at once;
- **Edit**: hide / show, delete, reorder, move, recolour or regenerate one layer, and change a text layer's
  words, colour, size or font (:func:`layerdiff.text.edit.edit_text_layer`); *Undo* takes back the last
  edits (deleting included);
- **Extract**: click the object on the stack's bottom layer (include / exclude points, or two corners of
  a box), optionally name it, and *Extract* pulls it out as a layer above the filled rest; the canvas
  then shows that background, so extracting again peels the image layer by layer. ``floodfill`` is
  preselected (the more accurate overall in BENCHMARKS.md).

After every change the downloads (PSD, ORA, ZIP of PNGs, layered SVG, one click each, named after the input:
``poster_layers.psd``) are written again from the current stack. Files sent to the browser live in a
per-app temporary folder removed when the server stops.

Nothing heavy happens at import: models load on first use and torch is imported only by model code.
Run it with ``layerdiff demo`` or ``python -m demo.app``; it binds 127.0.0.1 unless ``--host`` is given,
limits uploads (``--max-upload-mb``) and decoded pixels, and queues model runs (``--concurrency``).
"""

from __future__ import annotations

import argparse
import atexit
import functools
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr

from layerdiff.errors import LayerdiffError

from .backend import (
    DEFAULT_MAX_DECODED_MB,
    DEFAULT_MAX_PIXELS,
    EXPORT_FORMATS,
    DemoBackend,
    DemoSettings,
    Report,
    Session,
    safe_stem,
)
from .clicks import CLICK_MODES, ClickPrompt
from .views import (
    describe,
    extract_canvas,
    fresh_folder,
    layer_label,
    plan_json,
    plan_table,
    render_stack,
    text_summary,
    write_png,
)

INPUT_TYPES = [".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".psd", ".psb", ".ora", ".zip"]
EDIT_BUTTONS = {"toggle": "Hide / show", "delete": "Delete", "up": "Up ↑", "down": "Down ↓"}


# --------------------------------------------------------------------------- models offered
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


def font_families() -> list[str]:
    """The font families installed here (what a text layer's font can be changed to), sorted."""
    from layerdiff.text.fonts import available_fonts

    return sorted({face.family for face in available_fonts()})


def decompose_model_changed(model: str, layers: float) -> Any:
    """The layer slider for a newly chosen decomposer: its maximum, the value clipped to it."""
    top = max_layers_of(model)
    return gr.Slider(maximum=top, value=min(int(layers), top))


def generative_model_changed(model: str, layers: float) -> tuple[Any, Any]:
    """The layer and step sliders for a newly chosen diffusion model."""
    top = max_layers_of(model)
    return gr.Slider(maximum=top, value=min(int(layers), top)), gr.Slider(value=steps_of(model, "generate"))


# --------------------------------------------------------------------------- event handlers
def select_layer(evt: gr.SelectData) -> int:
    """A click on a thumbnail of the layer panel selects that layer for editing."""
    return int(evt.index)


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


def _skips(n: int) -> tuple[Any, ...]:
    return (gr.skip(),) * n


def _plan_of(image: Any) -> Any:
    """The :class:`~layerdiff.planning.LayerPlan` a stack was generated from (its ``metadata["plan"]``), or None."""
    from layerdiff.planning import LayerPlan, PlanError

    data = image.metadata.get("plan") if isinstance(getattr(image, "metadata", None), dict) else None
    try:
        return LayerPlan.from_dict(data) if data is not None else None
    except PlanError:
        return None


class Handlers:
    """The functions the UI's events call: Gradio in and out, the work done by :class:`DemoBackend`.

    A *view* is the outputs [layer panel, composite, status, layer dropdown, session] of a new stack;
    pictures go out as files written by :mod:`demo.views`.
    """

    VIEW = 5

    def __init__(self, backend: DemoBackend) -> None:
        self.backend = backend
        self.work_dir = backend.settings.work_dir
        self.changes: dict[str, int] = {}  # browser session -> how many stack changes have begun

    def view(self, session: Session, message: str, selected: int | None = None) -> tuple[Any, ...]:
        image = session.image
        choices = [(layer_label(image, i), i) for i in range(len(image))]
        value = selected if selected is not None and 0 <= selected < len(image) else len(image) - 1
        gallery, composite = render_stack(image, self.work_dir)
        return (gallery, composite, f"{message}  \n{describe(image)}", gr.Dropdown(choices=choices, value=value),
                session)

    def canvas(self, session: Session | None, prompt: ClickPrompt | None) -> tuple[Any, ClickPrompt]:
        """The Extract canvas of ``session``'s stack as a file, and the prompt bound to it."""
        rgb, prompt = extract_canvas(session.image if session is not None else None, prompt)
        if rgb is None:
            return None, prompt
        return write_png(rgb, fresh_folder(self.work_dir) / "canvas.png"), prompt

    # ------------------------------------------------------------ new stacks
    @_user_errors
    def open_upload(self, path: str | None) -> tuple[Any, ...]:
        if path is None:
            return *_skips(2), "Upload an image, a PSD or an ORA file.", *_skips(2)
        try:
            image = self.backend.open(path)
        except LayerdiffError as err:
            gr.Warning(str(err))
            return *_skips(2), f"**Could not open the file.** {err}", *_skips(2)
        kind = "a layered file" if len(image) > 1 else "a flat image"
        return self.view(Session.start(image, Path(path).stem),
                         f"Opened {Path(path).name} ({kind}); press *Decompose* to split its composite.")

    @_user_errors
    def decompose(self, path: str | None, automatic: bool, layers: float, model: str, seed: float, steps: float,
                  progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:
        t0 = time.perf_counter()
        image = self.backend.decompose(path, bool(automatic), int(layers), model, int(seed or 0),
                                       int(steps or 0), _progress(progress))
        name = Path(path).name if path else "image"
        return self.view(Session.start(image, Path(path).stem if path else "image"),
                         f"Decomposed {name} with {model} in {time.perf_counter() - t0:.1f} s.")

    @_user_errors
    def generate(self, prompt: str, layers: float, model: str, seed: float, steps: float, layer_prompts: str = "",
                 use_plan: bool = True, plan_text: str = "", width: float = 0, height: float = 0,
                 progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:
        """A view of the generated stack, then [plan JSON, plan table]. With ``use_plan`` and no layer prompts
        the layers come from the plan in ``plan_text`` (blank: the caption's plan), as ``layerdiff generate
        --plan``; the plan as used (boxes filled in) goes back to the plan box. A bad plan leaves the stack as
        it is and says why in one line. Otherwise the model draws all layers from the whole caption."""
        t0 = time.perf_counter()
        lines = [line for line in (layer_prompts or "").splitlines() if line.strip()]
        if use_plan and not lines:
            try:
                plan = self.backend.read_plan(plan_text, prompt)
                self.backend.output_size(width, height)  # a bad size is said before anything runs
            except LayerdiffError as err:
                gr.Warning(str(err))
                return *_skips(self.VIEW + 1), f"**Could not use the plan.** {err}"
            image = self.backend.generate_plan(plan, model, int(seed or 0), int(steps or 0), int(width or 0),
                                               int(height or 0), _progress(progress))
            used = _plan_of(image) or plan
            caption = prompt.strip() or plan.caption or "the plan"
            return (*self.view(Session.start(image, safe_stem(caption, "generated")),
                               f"Generated {caption!r} from its plan ({plan.num_layers} layers) with {model} in "
                               f"{time.perf_counter() - t0:.1f} s."), plan_json(used), plan_table(used))
        image = self.backend.generate(prompt, int(layers), model, int(seed or 0), int(steps or 0),
                                      _progress(progress), layer_prompts=layer_prompts or "",
                                      width=int(width or 0), height=int(height or 0))
        how = "with layer prompts" if lines else "from the whole caption"
        return (*self.view(Session.start(image, safe_stem(prompt, "generated")),
                           f"Generated {prompt!r} {how} with {model} in {time.perf_counter() - t0:.1f} s."),
                *_skips(2))

    # ------------------------------------------------------------------ plans
    @_user_errors
    def show_plan(self, prompt: str) -> tuple[str, str]:
        """[plan JSON, plan table] of the caption ``prompt``; an empty or unplannable caption empties the
        plan box and says why."""
        if not (prompt or "").strip():
            return "", "Type a caption: its layer plan shows here."
        try:
            plan = self.backend.plan(prompt)
        except LayerdiffError as err:
            return "", f"**Could not plan the caption.** {err}"
        return plan_json(plan), plan_table(plan)

    def plan_edited(self, plan_text: str, prompt: str) -> str:
        """The plan table of the edited JSON, or a one-line reason it cannot be used."""
        if not (plan_text or "").strip() and not (prompt or "").strip():
            return "Type a caption: its layer plan shows here."
        try:
            return plan_table(self.backend.read_plan(plan_text, prompt))
        except LayerdiffError as err:
            return f"**Could not use the plan.** {err}"

    # ----------------------------------------------------------------- edits
    def edit_handler(self, operation: str) -> Callable[..., tuple[Any, ...]]:
        @_user_errors
        def edit(session: Session | None, layer: int | None, dx: float, dy: float, color: str, prompt: str,
                 model: str, seed: float, steps: float, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:
            session = session or Session()
            edited, selected, message = self.backend.edit(
                session.image, layer, operation, dx=int(dx or 0), dy=int(dy or 0), color=color, prompt=prompt,
                model=model, seed=int(seed or 0), steps=int(steps or 0), report=_progress(progress))
            return self.view(self.remember(session, edited, message), f"{message}; *Undo* takes it back.",
                             selected)

        edit.__name__ = f"edit_{operation}"
        return edit

    @_user_errors
    def edit_text(self, session: Session | None, layer: int | None, words: str, color: str, font_size: float,
                  font_family: str) -> tuple[Any, ...]:
        """Re-render the selected text layer with the words, colour, size and font in the text fields."""
        session = session or Session()
        edited, selected, message = self.backend.edit_text(session.image, layer, words, color, font_size,
                                                           font_family)
        return self.view(self.remember(session, edited, message), f"{message}; *Undo* takes it back.", selected)

    def text_fields(self, session: Session | None, layer: int | None) -> tuple[Any, ...]:
        """[text group, words, colour, size, family, text info] for the selected layer: the fields of its
        :class:`~layerdiff.text.TextInfo`, or the group hidden when it has none."""
        image = session.image if session is not None else None
        info = self.backend.text_of(image, layer)
        if info is None:
            return gr.Group(visible=False), *_skips(4), text_summary(None) if image is not None else ""
        families = list(font_families())
        if info.font_family not in families:
            families = sorted([*families, info.font_family])
        return (gr.Group(visible=True), info.text, info.color_hex, info.font_size,
                gr.Dropdown(choices=families, value=info.font_family), text_summary(info, int(layer)))

    def remember(self, session: Session, image: Any, message: str) -> Session:
        settings = self.backend.settings
        return session.edited(image, message, settings.undo_steps, settings.undo_bytes)

    @_user_errors
    def undo(self, session: Session | None) -> tuple[Any, ...]:
        session, message = (session or Session()).undone()
        return self.view(session, f"Undid: {message}.")

    # -------------------------------------------------------------- downloads
    def clear_downloads(self) -> tuple[Any, ...]:
        """The download buttons while the stack changes: nothing to download until it is written again."""
        return tuple(gr.DownloadButton(value=None, interactive=False) for _ in EXPORT_FORMATS)

    def begin_change(self, request: gr.Request | None = None) -> tuple[Any, ...]:
        """The download buttons while the stack changes (:meth:`clear_downloads`); counts the change for the
        browser session, so that a refresh still writing the files of an earlier stack does not offer them."""
        if request is not None:
            self.changes[request.session_hash] = self.changes.get(request.session_hash, 0) + 1
        return self.clear_downloads()

    def downloads(self, session: Session | None, request: gr.Request | None = None) -> tuple[Any, ...]:
        """The download buttons and the undo button for ``session``'s current stack (written afresh); no
        update at all when another change of the stack began while the files were written (its own refresh
        will offer them)."""
        key = request.session_hash if request is not None else None
        began = self.changes.get(key) if key is not None else None
        undo = gr.Button(value=f"Undo ({session.undo_steps})" if session and session.undo_steps else "Undo",
                         interactive=bool(session and session.undo_steps))
        if session is None or session.image is None:
            return (*self.clear_downloads(), undo)
        paths = self.backend.exports(session.image, session.stem)
        if key is not None and self.changes.get(key) != began:
            return tuple(gr.skip() for _ in range(len(EXPORT_FORMATS) + 1))
        return (*(gr.DownloadButton(value=str(paths[fmt]), interactive=True) for fmt in EXPORT_FORMATS), undo)

    def export_handler(self, fmt: str) -> Callable[[Session | None], str]:
        @_user_errors
        def export(session: Session | None) -> str:
            session = session or Session()
            return str(self.backend.export(session.image, fmt, session.stem))

        export.__name__ = f"export_{fmt}"
        return export

    # --------------------------------------------------------------- extract
    def extract_opened(self, session: Session | None, prompt: ClickPrompt | None) -> tuple[Any, ...]:
        """[canvas, click prompt, info] for the current stack (the tab opened, the stack changed)."""
        canvas, prompt = self.canvas(session, prompt)
        return canvas, prompt, prompt.describe()

    def extract_click(self, session: Session | None, prompt: ClickPrompt | None, mode: str,
                      evt: gr.SelectData) -> tuple[Any, ...]:
        """A click on the canvas: add a point or a box corner; a bad click leaves a one-line message."""
        prompt = prompt if prompt is not None else ClickPrompt()
        try:
            prompt = prompt.click(mode, evt.index)
        except (LayerdiffError, ValueError) as err:
            return *_skips(2), f"**Could not use the click.** {err}"
        return self.extract_opened(session, prompt)

    def extract_clear(self, session: Session | None) -> tuple[Any, ...]:
        return self.extract_opened(session, None)

    @_user_errors
    def extract_upload(self, path: str | None, prompt: ClickPrompt | None) -> tuple[Any, ...]:
        if path is None:
            return _skips(self.VIEW + 3)
        try:
            image = self.backend.open(path)
        except LayerdiffError as err:
            gr.Warning(str(err))
            return *_skips(self.VIEW + 2), f"**Could not open the file.** {err}"
        session = Session.start(image, Path(path).stem)
        view = self.view(session, f"Opened {Path(path).name}; click the object to extract on the *Extract* tab.")
        return *view, *self.extract_opened(session, None)

    @_user_errors
    def extract(self, session: Session | None, prompt: ClickPrompt | None, text: str, model: str, seed: float,
                steps: float, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:
        """Extract the prompted object from the bottom layer; a bad prompt or an empty result leaves the stack
        as it is and says why in one line."""
        t0 = time.perf_counter()
        session = session or Session()
        prompt = prompt if prompt is not None else ClickPrompt()
        try:
            if session.image is None or len(session.image) == 0:
                raise LayerdiffError("nothing to extract from yet: open, decompose or generate an image first")
            referring = prompt.referring(text, session.image.size)
            result, selected, message = self.backend.extract(session.image, referring, model, int(seed or 0),
                                                             int(steps or 0), _progress(progress))
        except (LayerdiffError, ValueError) as err:
            gr.Warning(str(err))
            return *_skips(self.VIEW + 2), f"**Could not extract.** {err}"
        seconds = time.perf_counter() - t0
        session = self.remember(session, result, message)
        canvas, fresh = self.canvas(session, None)
        return (*self.view(session, f"{message} in {seconds:.1f} s; *Undo* takes it back.", selected), canvas,
                fresh, f"Extracted in {seconds:.1f} s. The canvas now shows the filled background: click the next "
                "object to peel it off.")


# --------------------------------------------------------------------------- layout
def _decompose_tab(decomposers: list[str], default_model: str) -> SimpleNamespace:
    from layerdiff.samples import SAMPLES_DIR

    ui = SimpleNamespace()
    ui.upload = gr.File(label="Image, PSD or ORA", file_types=INPUT_TYPES, type="filepath", elem_id="upload")
    with gr.Row():
        ui.automatic = gr.Checkbox(True, label="Automatic layer count", elem_id="automatic")
        top = max_layers_of(default_model)
        ui.layers = gr.Slider(1, top, value=min(4, top), step=1, label="Layers",
                              info="the upper bound when automatic", elem_id="layers")
    ui.model = gr.Dropdown(decomposers, value=default_model, label="Model", elem_id="model")
    with gr.Accordion("Sampling (diffusion models)", open=False):
        ui.seed = gr.Number(0, precision=0, label="Seed")
        ui.steps = gr.Slider(0, 50, value=0, step=1, label="Steps (0 = the model's default)")
    ui.button = gr.Button("Decompose", variant="primary", elem_id="decompose")
    gr.Examples([[str(SAMPLES_DIR / "poster.png")], [str(SAMPLES_DIR / "poster.psd")]], inputs=[ui.upload],
                label="Samples")
    return ui


def _generate_tab(generative: list[str], gen_default: str | None) -> SimpleNamespace:
    ui = SimpleNamespace()
    ui.prompt = gr.Textbox(label="Caption", elem_id="prompt",
                           placeholder='a red circle and "Grand Opening" in white on a blue background')
    ui.use_plan = gr.Checkbox(True, label="Plan the layers (caption → plan → layers; the plan shows below)",
                              elem_id="use-plan")
    with gr.Group():
        ui.plan_info = gr.Markdown("Type a caption: its layer plan shows here.", elem_id="plan-info")
        with gr.Accordion("The plan as JSON: edit it, then Generate", open=True):
            ui.plan = gr.Code("", language="json", interactive=True, lines=6, max_lines=24, wrap_lines=True,
                              show_label=False, elem_id="plan")
            ui.plan_again = gr.Button("Plan the caption again", size="sm", elem_id="plan-again")
    with gr.Accordion("Without the plan: whole caption or one prompt per layer", open=False):
        top = max_layers_of(gen_default)
        ui.layers = gr.Slider(1, top, value=min(3, top), step=1, label="Layers (background included)")
        # the placeholder is an example shown in the empty box, not a default value
        ui.layer_prompts = gr.Textbox(label="Layer prompts (one per line, bottom layer first; given, they are used "
                                            "instead of the plan)", lines=3, elem_id="layer-prompts",
                                      placeholder="a navy background\na red circle")
    ui.model = gr.Dropdown(generative, value=gen_default, label="Model")
    with gr.Row():
        ui.seed = gr.Number(0, precision=0, label="Seed")
        ui.steps = gr.Slider(1, 50, value=steps_of(gen_default, "generate"), step=1, label="Steps")
    with gr.Row():
        ui.width = gr.Number(0, precision=0, minimum=0, label="Width (px, 0 = the model's)", elem_id="gen-width")
        ui.height = gr.Number(0, precision=0, minimum=0, label="Height (px, 0 = the model's)", elem_id="gen-height")
    ui.button = gr.Button("Generate", variant="primary", elem_id="generate")
    return ui


def _edit_tab(generative: list[str], gen_default: str | None) -> SimpleNamespace:
    ui = SimpleNamespace()
    ui.layer = gr.Dropdown([], label="Layer (0 = bottom; or click a thumbnail)", type="value",
                           elem_id="layer-select")
    ui.text_info = gr.Markdown("", elem_id="text-info")
    with gr.Group(visible=False, elem_id="text-edit") as ui.text_group:
        ui.text_words = gr.Textbox(label="Text (one line per line)", lines=2, elem_id="text-words")
        with gr.Row(equal_height=True):
            ui.text_color = gr.ColorPicker("#ffffff", label="Text colour", elem_id="text-color")
            ui.text_size = gr.Number(24, minimum=1, label="Font size (px)", elem_id="text-size")
            # the families installed here; a layer's own family (maybe from another machine) is kept as it is
            ui.text_family = gr.Dropdown(font_families(), label="Font family", allow_custom_value=True,
                                         elem_id="text-family")
        ui.buttons_text = gr.Button("Apply to the text layer", variant="primary", elem_id="edit-text")
    with gr.Row():
        ui.buttons = {op: gr.Button(label, variant="stop" if op == "delete" else "secondary", elem_id=f"edit-{op}")
                      for op, label in EDIT_BUTTONS.items()}
    with gr.Row(equal_height=True):
        ui.dx = gr.Number(0, precision=0, label="dx (px)", min_width=80)
        ui.dy = gr.Number(0, precision=0, label="dy (px)", min_width=80)
        ui.buttons["move"] = gr.Button("Move", elem_id="edit-move")
    with gr.Row(equal_height=True):
        ui.color = gr.ColorPicker("#e03c31", label="Colour")
        ui.buttons["recolor"] = gr.Button("Recolour", elem_id="edit-recolor")
    with gr.Group():
        ui.regen_prompt = gr.Textbox(label="Regenerate the layer from a prompt")
        with gr.Row():
            ui.model = gr.Dropdown(generative, value=gen_default, label="Model")
            ui.seed = gr.Number(0, precision=0, label="Seed")
            ui.steps = gr.Slider(0, 50, value=0, step=1, label="Steps (0 = default)")
        ui.buttons["regenerate"] = gr.Button("Regenerate", elem_id="edit-regenerate")
    return ui


def _extract_tab(extractors: list[str]) -> SimpleNamespace:
    ui = SimpleNamespace()
    ui.info = gr.Markdown(ClickPrompt().describe(), elem_id="extract-info")
    ui.canvas = gr.Image(label="Bottom layer: click the object", type="filepath", interactive=False, buttons=[],
                         elem_id="extract-canvas")
    ui.mode = gr.Radio([(label, key) for key, label in CLICK_MODES.items()], value="include", label="A click adds",
                       elem_id="click-mode")
    ui.text = gr.Textbox(label="Phrase (optional)", elem_id="extract-text", placeholder="the yellow circle")
    ui.model = gr.Dropdown(extractors, value=extractors[0], label="Extractor", elem_id="extract-model")
    with gr.Accordion("Sampling (diffusion models)", open=False), gr.Row():
        ui.seed = gr.Number(0, precision=0, label="Seed")
        ui.steps = gr.Slider(0, 50, value=0, step=1, label="Steps (0 = default)")
    with gr.Row():
        ui.button = gr.Button("Extract", variant="primary", elem_id="extract")
        ui.clear = gr.Button("Clear prompt", elem_id="extract-clear")
    ui.upload = gr.File(label="Or open another image here", file_types=INPUT_TYPES, type="filepath", height=110,
                        elem_id="extract-upload")
    return ui


def _output_panel() -> SimpleNamespace:
    ui = SimpleNamespace()
    ui.status = gr.Markdown("Upload an image, a PSD or an ORA file, or generate one.", label="Status",
                            elem_id="status")
    ui.composite = gr.Image(label="Composite", type="filepath", interactive=False, elem_id="composite")
    # fit_columns=False: a single layer keeps a thumbnail's width instead of filling the panel
    ui.gallery = gr.Gallery(label="Layers, bottom to top", columns=4, fit_columns=False, object_fit="contain",
                            height="auto", allow_preview=False, elem_id="gallery")
    with gr.Row():
        ui.undo = gr.Button("Undo", size="sm", interactive=False, min_width=80, elem_id="undo")
        ui.downloads = {fmt: gr.DownloadButton(f"Download {label}", size="sm", interactive=False, min_width=80,
                                               elem_id=f"download-{fmt}") for fmt, label in EXPORT_FORMATS.items()}
    # the API's exports (``/export_psd`` ...): triggers and a file output that the page never shows
    ui.api_exports = {fmt: gr.Button(visible=False) for fmt in EXPORT_FORMATS}
    ui.api_file = gr.File(visible=False)
    return ui


# --------------------------------------------------------------------------- the app
def make_settings(default_model: str | None = None, max_upload_mb: float = 50.0, concurrency: int = 1,
                  max_pixels: int = DEFAULT_MAX_PIXELS, work_dir: str | Path | None = None,
                  max_decoded_mb: float = DEFAULT_MAX_DECODED_MB) -> DemoSettings:
    """Checked settings (see :func:`build_app`); a fresh temp folder removed at exit when ``work_dir`` is None."""
    from layerdiff.cli.demo import ENV_MODEL
    from layerdiff.registry import DEFAULT_MODEL, get_preset, model_names

    default_model = default_model or os.environ.get(ENV_MODEL) or DEFAULT_MODEL
    get_preset(default_model)  # unknown name -> UnknownModelError listing the known ones
    if max_upload_mb <= 0 or concurrency < 1 or max_pixels < 1 or max_decoded_mb <= 0:
        raise ValueError(f"max_upload_mb, concurrency, max_pixels and max_decoded_mb must be positive, got "
                         f"{max_upload_mb}, {concurrency}, {max_pixels}, {max_decoded_mb}")
    generative = offered_models(model_names(task="generate"), default_model)
    gen_default = default_model if default_model in generative else (generative[0] if generative else None)
    if work_dir is None:
        work_dir = Path(tempfile.mkdtemp(prefix="layerdiff-demo-"))
        atexit.register(shutil.rmtree, work_dir, True)
    return DemoSettings(default_model, gen_default, float(max_upload_mb), int(concurrency), int(max_pixels),
                        Path(work_dir), float(max_decoded_mb))


def build_app(default_model: str | None = None, max_upload_mb: float = 50.0, concurrency: int = 1,
              max_pixels: int = DEFAULT_MAX_PIXELS, work_dir: str | Path | None = None,
              max_decoded_mb: float = DEFAULT_MAX_DECODED_MB) -> gr.Blocks:
    """Build the demo (not launched). ``default_model``: the decomposer preselected (default
    ``$LAYERDIFF_DEMO_MODEL`` or the registry's default model); ``max_upload_mb``: the upload limit (also
    Gradio's ``max_file_size``, see :func:`launch_options`); ``concurrency``: model runs at once;
    ``max_pixels``: the largest canvas read; ``max_decoded_mb``: the largest upload, decoded (refused before
    decoding); ``work_dir``: where the files sent to the browser are written."""
    from layerdiff.registry import model_names

    settings = make_settings(default_model, max_upload_mb, concurrency, max_pixels, work_dir, max_decoded_mb)
    handlers = Handlers(DemoBackend(settings))
    default_model = settings.default_model
    decomposers = offered_models(model_names(task="decompose"), default_model)
    generative = offered_models(model_names(task="generate"), default_model)
    extractors = offered_models(sorted(model_names(task="extract"), key=lambda n: n != "floodfill"), default_model)
    with gr.Blocks(title="layerdiff demo", delete_cache=(900, 3600)) as app:
        gr.Markdown("# layerdiff\nTurn a flat image into editable RGBA layers, generate layers from text, "
                    "edit one layer or its text, and download the stack as PSD, ORA, SVG or PNGs.")
        session = gr.State(Session(), time_to_live=3600)
        click_prompt = gr.State(ClickPrompt(), time_to_live=3600)
        with gr.Row():
            with gr.Column(scale=2, min_width=320), gr.Tabs():
                with gr.Tab("Decompose", id="decompose"):
                    dec = _decompose_tab(decomposers, default_model)
                with gr.Tab("Generate", id="generate"):
                    gen = _generate_tab(generative, settings.generative_model)
                with gr.Tab("Edit", id="edit"):
                    edit = _edit_tab(generative, settings.generative_model)
                with gr.Tab("Extract", id="extract") as extract_tab:
                    ext = _extract_tab(extractors)
            with gr.Column(scale=3, min_width=360):
                out = _output_panel()
        _wire(handlers, session, click_prompt, dec, gen, edit, ext, extract_tab, out)
    app.queue(default_concurrency_limit=int(concurrency), max_size=64)
    app.layerdiff_settings = settings
    app.layerdiff_backend = handlers.backend
    return app


def _wire(h: Handlers, session: gr.State, click_prompt: gr.State, dec: SimpleNamespace, gen: SimpleNamespace,
          edit: SimpleNamespace, ext: SimpleNamespace, extract_tab: gr.Tab, out: SimpleNamespace) -> None:
    """Connect the events. Every event that changes the stack disables the downloads first, cancels the
    download refreshes still pending for earlier stacks, and writes the downloads again from the new stack
    afterwards, so a download is always the stack on the screen."""
    view = [out.gallery, out.composite, out.status, edit.layer, session]
    downloads = list(out.downloads.values())
    extract_out = [ext.canvas, click_prompt, ext.info]
    text_out = [edit.text_group, edit.text_words, edit.text_color, edit.text_size, edit.text_family, edit.text_info]

    triggers: list[Callable[..., Any]] = []
    refreshes: list[Any] = []

    def changes_stack(trigger: Callable[..., Any], fn: Callable[..., Any], inputs: list[Any], outputs: list[Any],
                      **kwargs: Any) -> None:
        triggers.append(trigger)
        changed = trigger(h.begin_change, None, downloads, queue=False, api_visibility="private").then(
            fn, inputs, outputs, **kwargs)
        changed.then(h.text_fields, [session, edit.layer], text_out, queue=False, api_visibility="private")
        refreshes.append(changed.then(h.downloads, [session], [*downloads, out.undo], concurrency_id="downloads",
                                      concurrency_limit=2, api_visibility="private"))

    changes_stack(dec.upload.change, h.open_upload, [dec.upload], view, api_name="open")
    changes_stack(dec.button.click, h.decompose, [dec.upload, dec.automatic, dec.layers, dec.model, dec.seed,
                                                  dec.steps], view, api_name="decompose")
    changes_stack(gen.button.click, h.generate, [gen.prompt, gen.layers, gen.model, gen.seed, gen.steps,
                                                 gen.layer_prompts, gen.use_plan, gen.plan, gen.width, gen.height],
                  [*view, gen.plan, gen.plan_info], api_name="generate")
    edit_inputs = [session, edit.layer, edit.dx, edit.dy, edit.color, edit.regen_prompt, edit.model, edit.seed,
                   edit.steps]
    for operation, button in edit.buttons.items():
        changes_stack(button.click, h.edit_handler(operation), edit_inputs, view, api_name=f"edit_{operation}")
    changes_stack(edit.buttons_text.click, h.edit_text, [session, edit.layer, edit.text_words, edit.text_color,
                                                         edit.text_size, edit.text_family], view, api_name="edit_text")
    changes_stack(out.undo.click, h.undo, [session], view, api_name="undo")
    for fmt, trigger in out.api_exports.items():
        trigger.click(h.export_handler(fmt), [session], [out.api_file], api_name=f"export_{fmt}")
    changes_stack(ext.upload.change, h.extract_upload, [ext.upload, click_prompt], view + extract_out,
                  api_visibility="private")
    changes_stack(ext.button.click, h.extract, [session, click_prompt, ext.text, ext.model, ext.seed, ext.steps],
                  view + extract_out, api_name="extract")
    for trigger in triggers:  # a new change cancels the download refreshes of the ones before it
        trigger(None, None, None, cancels=refreshes, queue=False, api_visibility="private")
    dec.model.change(decompose_model_changed, [dec.model, dec.layers], [dec.layers], api_visibility="private")
    gen.model.change(generative_model_changed, [gen.model, gen.layers], [gen.layers, gen.steps],
                     api_visibility="private")
    out.gallery.select(select_layer, None, [edit.layer], api_visibility="private")
    edit.layer.change(h.text_fields, [session, edit.layer], text_out, queue=False, api_visibility="private")
    gen.prompt.change(h.show_plan, [gen.prompt], [gen.plan, gen.plan_info], queue=False, trigger_mode="always_last",
                     api_visibility="private")
    gen.plan_again.click(h.show_plan, [gen.prompt], [gen.plan, gen.plan_info], queue=False, api_name="plan")
    gen.plan.change(h.plan_edited, [gen.plan, gen.prompt], [gen.plan_info], queue=False, trigger_mode="always_last",
                   api_visibility="private")
    extract_tab.select(h.extract_opened, [session, click_prompt], extract_out, api_visibility="private")
    ext.canvas.select(h.extract_click, [session, click_prompt, ext.mode], extract_out, api_visibility="private")
    ext.clear.click(h.extract_clear, [session], extract_out, api_visibility="private")


def launch_options(app: gr.Blocks, host: str = "127.0.0.1", port: int = 7860) -> dict[str, Any]:
    """Keyword arguments for ``app.launch``: loopback by default, the upload limit, no share link."""
    from layerdiff.samples import SAMPLES_DIR

    settings: DemoSettings = app.layerdiff_settings
    return dict(server_name=host, server_port=int(port), share=False, ssr_mode=False, inbrowser=False,
                max_file_size=int(settings.max_upload_mb * 1024 * 1024), allowed_paths=[str(SAMPLES_DIR)],
                show_error=False)


def serve(host: str = "127.0.0.1", port: int = 7860, default_model: str | None = None,
          max_upload_mb: float = 50.0, concurrency: int = 1, max_decoded_mb: float = DEFAULT_MAX_DECODED_MB) -> int:
    """Build and launch the demo; blocks until the server stops. Returns an exit code."""
    app = build_app(default_model=default_model, max_upload_mb=max_upload_mb, concurrency=concurrency,
                    max_decoded_mb=max_decoded_mb)
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
    """``python -m demo.app [--host H] [--port P] [--model NAME] [--max-upload-mb MB] [--max-decoded-mb MB]
    [--concurrency N]``."""
    from layerdiff.cli.demo import add_arguments

    parser = argparse.ArgumentParser(prog="python -m demo.app", description="Serve the layerdiff web demo.")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return serve(host=args.host, port=args.port, default_model=args.model, max_upload_mb=args.max_upload_mb,
                     concurrency=args.concurrency, max_decoded_mb=args.max_decoded_mb)
    except (LayerdiffError, ValueError) as err:
        print(f"layerdiff demo: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
