"""The web demo's API: its backend in-process, and the served app through gradio_client.

The server runs ``layerdiff demo --model tiny-random`` (random weights, fast) on a free loopback port.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from demo_server import TEST_MODEL, demo_server
from gradio_client import Client, handle_file
from PIL import Image

from demo import app as demo_app
from demo import views
from demo.backend import DemoBackend, DemoSettings, Session
from demo.clicks import MAX_CLICK_POINTS, ClickPrompt
from layerdiff.errors import LayerdiffError, LayeredFileError
from layerdiff.io import load
from layerdiff.layered import Layer, LayeredImage

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "layerdiff" / "samples" / "poster.png"


def sample_png(tmp_path: Path) -> Path:
    """The bundled poster, or a generated 96x64 design when the samples are not there."""
    if SAMPLE.is_file():
        return SAMPLE
    h, w = 64, 96
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0], img[..., 2] = (xx * 255 // w), 200
    img[((yy - 30) ** 2 + (xx - 40) ** 2) < 300] = (230, 40, 30)
    path = tmp_path / "design.png"
    Image.fromarray(img).save(path)
    return path


def bad_png(tmp_path: Path) -> Path:
    path = tmp_path / "noise.png"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return path


@pytest.fixture(scope="module")
def backend(tmp_path_factory) -> DemoBackend:
    app = demo_app.build_app(default_model=TEST_MODEL, work_dir=tmp_path_factory.mktemp("demo-work"))
    return app.layerdiff_backend


@pytest.fixture()
def stack() -> LayeredImage:
    bg = np.zeros((24, 32, 4), np.float32)
    bg[...] = (0.2, 0.4, 0.8, 1.0)
    dot = np.zeros((24, 32, 4), np.float32)
    dot[6:14, 8:20] = (0.9, 0.1, 0.1, 1.0)
    return LayeredImage((32, 24), [Layer(bg, name="bg"), Layer(dot, name="dot")])


# ------------------------------------------------------------------ in-process backend
def test_build_app_is_light_and_rejects_unknown_models() -> None:
    app = demo_app.build_app(default_model=TEST_MODEL)
    assert isinstance(app, gr.Blocks)
    assert app.layerdiff_settings.work_dir.is_dir()
    options = demo_app.launch_options(app)
    assert options["server_name"] == "127.0.0.1" and options["share"] is False
    assert options["max_file_size"] == 50 * 1024 * 1024
    if "torch" not in sys.modules:  # other tests in this process may have imported it
        assert "diffusers" not in sys.modules
    with pytest.raises(LayerdiffError, match="unknown model 'no-such-model'"):
        demo_app.build_app(default_model="no-such-model")
    assert demo_app.build_app(default_model=TEST_MODEL, concurrency=3)._queue.default_concurrency_limit == 3


def test_models_with_remote_weights_are_not_offered(monkeypatch) -> None:
    from layerdiff import registry

    remote = registry.ModelPreset(name="demo-test-remote", kind="decomposer", description="hub weights",
                                  tasks={"decompose": {"baseline": "layerdiff.baselines:SingleLayerDecomposer"}},
                                  weights="someone/not-downloaded-model")
    monkeypatch.setitem(registry._REGISTRY, remote.name, remote)
    names = [TEST_MODEL, "demo-test-remote"]
    assert demo_app.offered_models(names, TEST_MODEL) == [TEST_MODEL]
    assert demo_app.offered_models(names, "demo-test-remote") == names  # chosen by the operator: listed


def test_choosing_a_model_updates_the_sliders() -> None:
    slider = demo_app.decompose_model_changed("single-layer", 4)
    assert (slider.maximum, slider.value) == (1, 1)
    layers, steps = demo_app.generative_model_changed(TEST_MODEL, 8)
    assert (layers.maximum, layers.value, steps.value) == (6, 6, 2)


def test_generation_steps_slider_reads_the_generation_default(monkeypatch) -> None:
    import dataclasses

    from layerdiff import registry

    preset = dataclasses.replace(registry.get_preset(TEST_MODEL), name="demo-test-steps",
                                 defaults={"num_inference_steps": 2, "generate_num_inference_steps": 5})
    monkeypatch.setitem(registry._REGISTRY, preset.name, preset)
    assert demo_app.steps_of(preset.name) == 2
    assert demo_app.steps_of(preset.name, "generate") == 5
    _, steps = demo_app.generative_model_changed(preset.name, 3)
    assert steps.value == 5
    assert demo_app.steps_of(TEST_MODEL, "generate") == 2  # no generation default: the shared one


def test_cli_demo_options_default_to_loopback() -> None:
    from layerdiff.cli import build_parser

    args = build_parser().parse_args(["demo"])
    assert (args.host, args.port, args.max_upload_mb, args.concurrency) == ("127.0.0.1", 7860, 50.0, 1)
    args = build_parser().parse_args(["demo", "--host", "0.0.0.0", "--port", "8000", "--model", TEST_MODEL])
    assert (args.host, args.port, args.model) == ("0.0.0.0", 8000, "tiny-random")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--share"])


def test_open_reports_bad_and_oversized_files_by_name(backend, tmp_path) -> None:
    with pytest.raises(LayeredFileError, match=r"^noise\.png: unknown file signature"):
        backend.open(bad_png(tmp_path))
    small = DemoBackend(DemoSettings(TEST_MODEL, TEST_MODEL, 0.001, 1, 10**6, tmp_path))
    with pytest.raises(LayerdiffError, match="larger than the 0.001 MB limit"):
        small.open(bad_png(tmp_path))
    tiny_budget = DemoBackend(DemoSettings(TEST_MODEL, TEST_MODEL, 50, 1, 100, tmp_path))
    with pytest.raises(LayeredFileError, match="design.png|poster.png"):
        tiny_budget.open(sample_png(tmp_path))


def test_edits_return_new_stacks_and_selection(backend, stack) -> None:
    hidden, index, message = backend.edit(stack, 1, "toggle")
    assert not hidden[1].visible and stack[1].visible and index == 1 and "Hid" in message
    shown, _, message = backend.edit(hidden, 1, "toggle")
    assert shown[1].visible and "Showed" in message
    down, index, _ = backend.edit(stack, 1, "down")
    assert [lay.name for lay in down] == ["dot", "bg"] and index == 0
    with pytest.raises(LayerdiffError, match="already at the top"):
        backend.edit(stack, 1, "up")
    moved, _, _ = backend.edit(stack, 1, "move", dx=3, dy=-2)
    assert moved[1].offset == (3, -2)
    recoloured, _, _ = backend.edit(stack, 1, "recolor", color="rgba(0, 255, 0, 1)")
    assert recoloured[1].pixels[10, 10, 1] > 0.9 and recoloured[1].pixels[10, 10, 0] < 0.1
    deleted, index, _ = backend.edit(stack, 1, "delete")
    assert len(deleted) == 1 and index == 0
    with pytest.raises(ValueError, match="cannot delete the only layer"):
        backend.edit(deleted, 0, "delete")
    with pytest.raises(LayerdiffError, match="nothing to edit yet"):
        backend.edit(None, 0, "toggle")


def test_regenerate_and_generate_share_the_loaded_model(backend, stack) -> None:
    steps: list = []
    edited, index, _ = backend.edit(stack, 1, "regenerate", prompt="a star", model=TEST_MODEL,
                                    report=lambda value, desc: steps.append(value))
    assert index == 1 and np.array_equal(edited[0].pixels, stack[0].pixels)
    assert not np.array_equal(edited[1].pixels, stack[1].pixels)
    assert steps[-1] == (2, 2)  # the preset's 2 sampling steps, reported by callback_on_step_end
    generated = backend.generate("a poster", 2, TEST_MODEL)
    assert len(generated) == 2
    assert backend.model(TEST_MODEL, "generate") is backend.model(TEST_MODEL, "generate")  # loaded once
    assert backend.model(TEST_MODEL, "edit").transformer is backend.model(TEST_MODEL, "generate").transformer


def test_generate_reads_layer_prompts_one_per_line(backend) -> None:
    plain = backend.generate("a poster", 2, TEST_MODEL).to_numpy()
    blank = backend.generate("a poster", 2, TEST_MODEL, layer_prompts="\n \n").to_numpy()
    named = backend.generate("a poster", 2, TEST_MODEL, layer_prompts="a navy background\na red circle\n").to_numpy()
    assert np.array_equal(plain, blank) and not np.array_equal(plain, named)
    with pytest.raises(LayerdiffError, match="3 layer prompts for 2 layers"):
        backend.generate("a poster", 2, TEST_MODEL, layer_prompts="a\nb\nc")


def test_concurrent_runs_of_one_model_match_sequential_ones(backend) -> None:
    from concurrent.futures import ThreadPoolExecutor

    assert backend.running(TEST_MODEL) is backend.running(TEST_MODEL)
    def run(seed: int) -> np.ndarray:
        return backend.generate("a poster", 2, TEST_MODEL, seed=seed).to_numpy()

    expected = [run(1), run(2)]
    with ThreadPoolExecutor(2) as pool:  # the shared scheduler is used under the model's lock
        results = list(pool.map(run, (1, 2)))
    assert all(np.array_equal(r, e) for r, e in zip(results, expected))


def test_model_load_errors_reach_the_ui(backend, tmp_path, monkeypatch) -> None:
    from layerdiff import registry

    preset = registry.get_preset(TEST_MODEL)
    missing = registry.ModelPreset(name="demo-test-missing", kind="layerdiff", description="no weights here",
                                   tasks=preset.tasks, components=preset.components,
                                   weights="embedded:demo-test-missing")
    monkeypatch.setitem(registry._REGISTRY, missing.name, missing)  # restored after the test
    with pytest.raises(LayerdiffError, match="demo-test-missing"):
        backend.decompose(sample_png(tmp_path), True, 3, "demo-test-missing")

    @demo_app._user_errors
    def handler() -> None:
        backend.decompose(sample_png(tmp_path), True, 3, "demo-test-missing")

    with pytest.raises(gr.Error, match="demo-test-missing"):
        handler()


def test_export_writes_loadable_files_named_after_the_input(backend, stack) -> None:
    for fmt in ("psd", "ora", "zip"):
        path = backend.export(stack, fmt, "poster")
        assert path.parent.parent == backend.settings.work_dir and path.name == f"poster_layers.{fmt}"
        back = load(path)
        assert len(back) == 2 and back.size == (32, 24)
    assert backend.export(stack, "psd").name == "layers.psd"  # no input name
    assert backend.export(stack, "psd", "../my poster (1)").name == "my_poster_1_layers.psd"
    paths = backend.exports(stack, "poster")
    assert sorted(paths) == ["ora", "psd", "svg", "zip"] and len({p.parent for p in paths.values()}) == 1
    assert paths["svg"].name == "poster_layers.svg" and paths["svg"].read_text("utf-8").count("<image") == 2
    with pytest.raises(LayerdiffError, match="nothing to download"):
        backend.export(None, "psd")


def test_views_put_layers_on_a_checkerboard(stack) -> None:
    gallery = views.layer_gallery(stack)
    assert [caption for _, caption in gallery] == ["0 · bg", "1 · dot"]
    thumb = gallery[1][0]
    assert thumb.shape == (24, 32, 3) and thumb.dtype == np.uint8
    assert len(np.unique(thumb[0:4, 0:8].reshape(-1, 3), axis=0)) == 2  # transparent -> two checker greys
    assert tuple(thumb[10, 10]) == (230, 26, 26)
    preview = views.composite_preview(stack)  # small composites are enlarged by a whole factor
    assert preview.shape == (24 * 8, 32 * 8, 3) and tuple(preview[10 * 8 + 3, 10 * 8 + 5]) == (230, 26, 26)
    assert views.parse_css_color("#abc") == "#aabbcc"
    assert views.parse_css_color("rgb(255, 0, 16)") == "#ff0010"
    with pytest.raises(ValueError, match="not '#rrggbb'"):
        views.parse_css_color("red")


# ------------------------------------------------------------------ extract tab, in-process
def handler(app: gr.Blocks, name: str):
    """The app's event function called ``name`` (the closures build_app wires to the UI)."""
    return next(f.fn for f in app.fns.values() if f.name == name)


def click(fn, session, prompt, mode: str, x: int, y: int):
    """Call the canvas's select handler as Gradio does for a click on canvas pixel (x, y)."""
    return fn(session, prompt, mode, gr.SelectData(None, {"index": [x, y], "value": None}))


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> gr.Blocks:
    return demo_app.build_app(default_model=TEST_MODEL, work_dir=tmp_path_factory.mktemp("demo-extract"))


@pytest.fixture()
def flat(design) -> LayeredImage:
    """The conftest design (61 x 47: red disc around (25, 20), blue bar in rows 35-40) as one opaque layer."""
    rgba = np.concatenate([design, np.ones(design.shape[:2] + (1,), np.float32)], axis=-1)
    return LayeredImage.from_numpy(rgba, names=["design"])


def test_clicks_become_points_and_boxes_in_image_pixels() -> None:
    prompt = ClickPrompt(size=(32, 24), preview=(256, 192))  # the canvas is the image x 8
    prompt = prompt.click("include", [85, 83])
    assert prompt.points == ((10, 10, 1),)
    prompt = prompt.click("exclude", [255, 191])  # the last canvas pixel is the last image pixel
    assert prompt.points[-1] == (31, 23, 0)
    prompt = prompt.click("box", [160, 120])
    assert prompt.corner == (20, 15) and prompt.box is None
    assert "click the opposite corner" in prompt.describe()
    prompt = prompt.click("box", [40, 16])  # the opposite corner above-left: the box holds both pixels
    assert prompt.box == (5, 2, 21, 16) and prompt.corner is None
    assert prompt.describe() == "Prompt: 1 include point, 1 exclude point, box (5, 2)–(21, 16)."
    restarted = prompt.click("box", [0, 0])
    assert restarted.box is None and restarted.corner == (0, 0) and restarted.points == prompt.points
    referring = prompt.referring("  the red  dot ", (32, 24))
    assert referring.points == [(10, 10, 1), (31, 23, 0)] and referring.box == (5, 2, 21, 16)
    assert referring.text == "the red dot"
    # A shrunk canvas maps back to the image's pixels too.
    big = ClickPrompt(size=(2048, 1024), preview=(1024, 512)).click("include", [1023, 0])
    assert big.points == ((2047, 1, 1),)
    with pytest.raises(LayerdiffError, match=r"click \(256, 3\) is outside the 256x192 canvas"):
        prompt.click("include", [256, 3])
    with pytest.raises(LayerdiffError, match="open, decompose or generate an image first"):
        ClickPrompt().click("include", [1, 1])
    with pytest.raises(ValueError, match="unknown click mode 'lasso'"):
        prompt.click("lasso", [1, 1])
    full = replace(prompt, points=((1, 1, 1),) * MAX_CLICK_POINTS)
    with pytest.raises(LayerdiffError, match="at most 64 points"):
        full.click("exclude", [1, 1])


def test_canvas_shows_the_bottom_layer_with_the_prompt(stack) -> None:
    canvas, prompt = views.extract_canvas(stack, None)
    assert canvas.shape == (192, 256, 3) and prompt.size == (32, 24) and prompt.preview == (256, 192)
    bottom = views.on_checkerboard(stack[0].pixels, views.PREVIEW_SIDE, views.PREVIEW_MIN_SIDE)
    assert np.array_equal(canvas, bottom)  # the bottom layer only: the red dot of layer 1 is not there
    prompt = prompt.click("include", [20, 20]).click("exclude", [200, 20]).click("box", [8, 100])
    prompt = prompt.click("box", [247, 183])
    canvas, prompt = views.extract_canvas(stack, prompt)
    assert tuple(canvas[20, 20]) == views.INCLUDE_COLOR  # the dot of image pixel (2, 2)
    assert tuple(canvas[20, 204]) == views.EXCLUDE_COLOR  # image pixel (25, 2)
    assert tuple(canvas[150, 8]) == views.BOX_COLOR  # the box's left edge, inside its dark outline
    assert tuple(canvas[150, 100]) == tuple(bottom[150, 100])  # inside the box: the image
    other = LayeredImage((16, 16), [Layer(np.ones((16, 16, 4), np.float32))])
    canvas, fresh = views.extract_canvas(other, prompt)  # another image size: the clicks are dropped
    assert fresh.empty and fresh.size == (16, 16) and canvas.shape == (256, 256, 3)
    assert views.extract_canvas(None, prompt)[1] == ClickPrompt()


def png(path: str) -> np.ndarray:
    """The pixels of a picture file a handler returned: (h, w, 3) uint8."""
    return np.asarray(Image.open(path).convert("RGB"))


def test_extract_peels_layer_by_layer_and_recomposes(app, flat) -> None:
    opened, click_fn, extract = (handler(app, n) for n in ("extract_opened", "extract_click", "extract"))
    source = flat.composite()
    session = Session.start(flat, "design")
    canvas, prompt, info = opened(session, None)
    assert "Click the object" in info
    scale = png(canvas).shape[1] / flat.width
    _, prompt, info = click(click_fn, session, prompt, "include", int(25.5 * scale), int(20.5 * scale))
    assert prompt.points == ((25, 20, 1),) and info == "Prompt: 1 include point."
    out = extract(session, prompt, "", "floodfill", 0, 0)
    gallery, _, status, _, session, canvas, prompt, info = out
    result = session.image
    assert len(result) == 2 and len(gallery) == 2 and "Extracted 'object (point)'" in status
    assert prompt.empty and "peel" in info and session.undo_steps == 1
    assert np.abs(result.composite() - source).max() <= 1.5 / 255  # the two layers recompose the input
    disc = result[1].pixels[..., 3] > 0.5
    assert disc[20, 25] and not disc[38, 30] and 200 < disc.sum() < 400  # the disc (area 314), not the bar
    assert np.abs(result[0].pixels[20, 25, :3] - (0.85, 0.1, 0.1)).max() > 0.3  # the hole is filled
    # Extract again: the canvas shows the filled background; a box around the bar peels it off next.
    assert np.array_equal(png(canvas), views.extract_canvas(result, None)[0])
    _, prompt, _ = click(click_fn, session, prompt, "box", int(3 * scale), int(33 * scale))
    _, prompt, _ = click(click_fn, session, prompt, "box", int(57 * scale), int(42 * scale))
    assert prompt.box == (3, 33, 58, 43)
    _, _, status, _, session, _, _, _ = extract(session, prompt, "", "floodfill", 0, 0)
    again = session.image
    assert [layer.name for layer in again] == ["design", "object (box)", "object (point)"]
    assert np.array_equal(again[2].pixels, result[1].pixels)  # the first object is kept as it was
    assert np.abs(again.composite() - source).max() <= 1.5 / 255
    bar = again[1].pixels[..., 3] > 0.5
    assert bar[38, 30] and not bar[20, 25] and not bar[10, 5]
    # Undo takes the extractions back one at a time.
    _, _, status, _, session = handler(app, "undo")(session)
    assert session.image is result and status.startswith("Undid: Extracted 'object (box)'")


def test_extract_tab_opens_files_and_clears_the_prompt(app, tmp_path) -> None:
    upload, clear = handler(app, "extract_upload"), handler(app, "extract_clear")
    source = sample_png(tmp_path)
    gallery, _, status, _, session, canvas, prompt, info = upload(str(source), ClickPrompt())
    width, height = Image.open(source).size
    assert len(gallery) == 1 and f"Opened {source.name}" in status and session.image.size == (width, height)
    assert session.stem == source.stem and session.undo_steps == 0
    assert prompt.size == (width, height) and png(canvas).shape[:2] == (prompt.preview[1], prompt.preview[0])
    assert "Click the object" in info
    clicked = prompt.click("include", [3, 3]).click("box", [5, 5])
    canvas_again, cleared, info = clear(session)
    assert cleared.empty and cleared.size == clicked.size and np.array_equal(png(canvas_again), png(canvas))
    with pytest.warns(UserWarning, match="unknown file signature"):  # gr.Warning: the toast
        *skipped, info = upload(str(bad_png(tmp_path)), prompt)
    assert all(isinstance(item, type(gr.skip())) for item in skipped)
    assert info.startswith("**Could not open the file.** noise.png: unknown file signature")


def test_bad_prompts_give_a_one_line_message(app, flat) -> None:
    click_fn, extract = handler(app, "extract_click"), handler(app, "extract")
    _, prompt = views.extract_canvas(flat, None)

    def message(image, prompt, text: str = "") -> str:
        with pytest.warns(UserWarning):  # gr.Warning: the toast
            out = extract(Session.start(image, "x") if image is not None else Session(), prompt, text,
                          "floodfill", 0, 0)
        assert all(isinstance(item, type(gr.skip())) for item in out[:7])  # the stack stays as it was
        assert out[7].startswith("**Could not extract.** ") and "\n" not in out[7]
        return out[7]

    assert "no prompt given" in message(flat, prompt)
    assert "only excluded points" in message(flat, prompt.click("exclude", [3, 3]))
    assert "one corner only" in message(flat, prompt.click("box", [3, 3]))
    outside = replace(prompt, box=(100, 100, 200, 150))  # e.g. sent by a client: off the 61x47 image
    assert "box (100.0, 100.0, 200.0, 150.0) does not overlap the 61x47 image" in message(flat, outside)
    assert "nothing found for 'a thing'" in message(flat, prompt, "a thing")  # no colour word, no click
    assert "nothing to extract from yet" in message(None, prompt, "red")
    assert "clicks were made on a 61x47 image but the bottom layer is 32x24" in message(
        LayeredImage((32, 24), [Layer(np.ones((24, 32, 4), np.float32))]), prompt.click("include", [5, 5]))
    # A point on nothing: the transparent half of a bottom layer has no object to extract.
    half = np.ones((24, 32, 4), np.float32)
    half[:, :16] = 0.0
    holey = LayeredImage((32, 24), [Layer(half, name="half")])
    _, prompt = views.extract_canvas(holey, None)
    assert "nothing found for 'object (point)'" in message(holey, prompt.click("include", [20, 100]))
    _, same, info = click(click_fn, Session.start(holey, "h"), prompt, "include", 999, 5)  # off the canvas
    assert isinstance(same, type(gr.skip())) and info.startswith("**Could not use the click.** click (999, 5)")


def test_extract_backend_checks_the_prompt_before_loading_a_model(backend, stack) -> None:
    from layerdiff.referring import PromptError, ReferringPrompt

    with pytest.raises(PromptError, match="does not overlap the 32x24 image"):
        backend.extract(stack, ReferringPrompt(box=(40, 0, 50, 10)), "no-such-extractor")
    with pytest.raises(LayerdiffError, match="unknown model 'no-such-extractor'"):
        backend.extract(stack, ReferringPrompt(points=[(3, 3)]), "no-such-extractor")
    with pytest.raises(LayerdiffError, match="'single-layer' does not extract"):
        backend.extract(stack, ReferringPrompt(points=[(3, 3)]), "single-layer")
    assert backend.model("floodfill", "extract") is backend.model("floodfill", "extract")


def test_extract_with_a_layerdiff_model_shares_its_components(backend, stack) -> None:
    from layerdiff.referring import ReferringPrompt

    out, index, message = backend.extract(stack, ReferringPrompt(box=(6, 4, 22, 16)), TEST_MODEL)
    assert index == 1 and len(out) == 3 and "with tiny-random" in message
    assert np.abs(out.composite() - stack.composite()).max() <= 1.5 / 255
    pipe = backend.model(TEST_MODEL, "extract")
    assert pipe.transformer is backend.model(TEST_MODEL, "generate").transformer


# ------------------------------------------------------------------ served app, through gradio_client
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with demo_server(log_dir=tmp_path_factory.mktemp("demo-api-log")) as running:
        yield running
    assert running.process.returncode == 0, running.log()[-2000:]
    assert running.work_dir is not None and not running.work_dir.exists()  # temp files removed at exit


@pytest.mark.slow
def test_api_decompose_then_download_psd(server, tmp_path) -> None:
    client = Client(server.url, verbose=False, httpx_kwargs={"timeout": 180})
    source = sample_png(tmp_path)
    gallery, composite, status, _ = client.predict(handle_file(str(source)), False, 3, TEST_MODEL, 0, 0,
                                                   api_name="/decompose")
    assert len(gallery) == 3 and [item["caption"][:1] for item in gallery] == ["0", "1", "2"]
    assert "**3 layers**" in status and f"Decomposed {source.name}" in status
    width, height = Image.open(source).size
    assert Image.open(composite).size == (width, height)
    psd = client.predict(api_name="/export_psd")  # same client, same session: the stack just made
    layered = load(psd)
    assert len(layered) == 3 and layered.size == (width, height)
    flat = np.asarray(Image.open(source).convert("RGBA"), np.float32) / 255.0
    assert np.abs(layered.composite() - flat).mean() < 0.01  # the layers recompose the input


@pytest.mark.slow
def test_api_edit_and_generate(server, tmp_path) -> None:
    client = Client(server.url, verbose=False, httpx_kwargs={"timeout": 180})
    client.predict(handle_file(str(sample_png(tmp_path))), False, 2, TEST_MODEL, 0, 0, api_name="/decompose")
    before = client.predict(api_name="/export_zip")
    _, _, status, _ = client.predict(1, 0, 0, "#00ff00", "", TEST_MODEL, 0, 0, api_name="/edit_toggle")
    assert "Hid layer" in status and "1 hidden" in status
    after = load(client.predict(api_name="/export_zip"))
    assert not after[1].visible and load(before)[1].visible
    gallery, _, status, _, plan, _ = client.predict("a red circle on blue", 2, TEST_MODEL, 0, 2, "",
                                                    api_name="/generate")  # the caption's plan: 2 layers
    assert len(gallery) == 2 and "from its plan (2 layers)" in status and '"circle"' in plan
    gallery, _, status, _, _, _ = client.predict("a red circle on blue", 2, TEST_MODEL, 0, 2,
                                                 "a blue sky\na red circle", api_name="/generate")
    assert len(gallery) == 2 and "Generated" in status and "with layer prompts" in status
    with pytest.raises(Exception, match="3 layer prompts for 2 layers"):  # gr.Error reaches the client
        client.predict("x", 2, TEST_MODEL, 0, 2, "a\nb\nc", api_name="/generate")


@pytest.mark.slow
def test_api_extract_by_phrase_then_download(server, tmp_path) -> None:
    client = Client(server.url, verbose=False, httpx_kwargs={"timeout": 180})
    source = sample_png(tmp_path)
    phrase = "the yellow sun" if source == SAMPLE else "the red circle"  # a colour word floodfill knows
    client.predict(handle_file(str(source)), api_name="/open")
    *_, info = client.predict("", "floodfill", 0, 0, api_name="/extract")
    assert info.startswith("**Could not extract.** no prompt given")
    gallery, composite, status, _, canvas, info = client.predict(phrase, "floodfill", 0, 0, api_name="/extract")
    assert len(gallery) == 2 and f"Extracted {phrase!r}" in status and "peel" in info
    layered = load(client.predict(api_name="/export_ora"))
    assert layered[1].name == phrase and layered[1].content_bbox(0.5) is not None
    assert Image.open(canvas).size == Image.open(composite).size


@pytest.mark.slow
def test_api_refuses_non_images_with_the_reason(server, tmp_path) -> None:
    client = Client(server.url, verbose=False, httpx_kwargs={"timeout": 180})
    with pytest.raises(Exception, match=r"noise\.png: unknown file signature") as info:
        client.predict(handle_file(str(bad_png(tmp_path))), True, 3, TEST_MODEL, 0, 0, api_name="/decompose")
    assert type(info.value).__name__ == "AppError"
    _, _, status, _ = client.predict(handle_file(str(bad_png(tmp_path))), api_name="/open")
    assert "Could not open the file" in status and "unknown file signature" in status


def test_cli_does_not_import_gradio_until_the_demo_runs() -> None:
    code = ("import sys; from layerdiff.cli import build_parser; build_parser().parse_args(['demo']); "
            "print('gradio' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.split() == ["False"]


@pytest.mark.slow
def test_api_refuses_a_file_that_decodes_huge_and_keeps_serving(server, tmp_path) -> None:
    """A 10 KB ORA that would decode to gigabytes is refused up front; the next requests are served."""
    from test_demo_session import hostile_ora

    def resident_mb() -> float:
        status = Path(f"/proc/{server.process.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) / 1024

    client = Client(server.url, verbose=False, httpx_kwargs={"timeout": 180})
    bomb = hostile_ora(tmp_path / "bomb.ora")
    before = resident_mb()
    for _ in range(3):
        _, _, status, _ = client.predict(handle_file(str(bomb)), api_name="/open")
        assert "Could not open the file" in status and "bomb.ora: too large" in status
    assert resident_mb() - before < 300  # refused from the declared sizes: nothing big was decoded or kept
    gallery, _, status, _ = client.predict(handle_file(str(sample_png(tmp_path))), api_name="/open")
    assert len(gallery) == 1 and "Opened" in status


def test_demo_without_gradio_names_the_install_command(monkeypatch) -> None:
    import importlib.util

    from layerdiff.cli import demo as cli_demo

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gradio" else real(name, *a))
    with pytest.raises(LayerdiffError, match=r"needs Gradio, which is not installed: pip install 'layerdiff\[demo\]'"):
        cli_demo.load_app_module()


@pytest.mark.slow
def test_api_plan_generate_edit_text_and_export_svg(server, tmp_path) -> None:
    """The README's example: /plan, /generate from the plan at 128x96, /edit_text on the quoted string's layer,
    /export_svg with the new words as <text>."""
    import xml.etree.ElementTree as ET

    client = Client(server.url, verbose=False, httpx_kwargs={"timeout": 180})
    caption = 'a red star and "Hello" on a navy background'
    plan_json, plan_table = client.predict(caption, api_name="/plan")
    assert '"text": "Hello"' in plan_json and plan_table.startswith("**Plan: 3 layers**")
    gallery, _, status, _, used, _ = client.predict(caption, 3, TEST_MODEL, 0, 2, "", True, plan_json, 128, 96,
                                                    api_name="/generate")
    assert len(gallery) == 3 and "from its plan (3 layers)" in status and "128×96 px" in status
    assert '"box": [' in used
    _, _, status, _ = client.predict(2, "Goodbye", "#ffcc00", 20, "DejaVu Sans", api_name="/edit_text")
    assert "Changed text layer" in status and "to 'Goodbye'" in status
    svg = client.predict(api_name="/export_svg")
    assert Path(svg).name == "a_red_star_and_Hello_on_a_navy_background_layers.svg"
    (text,) = ET.parse(svg).getroot().iter("{http://www.w3.org/2000/svg}text")
    assert (text.text, text.get("fill"), text.get("font-size")) == ("Goodbye", "#ffcc00", "20px")
    with pytest.raises(Exception, match="is not a text layer"):
        client.predict(0, "x", "#ffffff", 20, "DejaVu Sans", api_name="/edit_text")
