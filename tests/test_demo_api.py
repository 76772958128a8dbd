"""The web demo's API: its backend in-process, and the served app through gradio_client.

The server runs ``layerdiff demo --model tiny-random`` (random weights, fast) on a free loopback port.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from demo_server import TEST_MODEL, demo_server
from gradio_client import Client, handle_file
from PIL import Image

from demo import app as demo_app
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
def backend(tmp_path_factory) -> demo_app.DemoBackend:
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
                                  pipeline="layerdiff.baselines:SingleLayerDecomposer",
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
    small = demo_app.DemoBackend(demo_app.DemoSettings(TEST_MODEL, TEST_MODEL, 0.001, 1, 10**6, tmp_path))
    with pytest.raises(LayerdiffError, match="larger than the 0.001 MB limit"):
        small.open(bad_png(tmp_path))
    tiny_budget = demo_app.DemoBackend(demo_app.DemoSettings(TEST_MODEL, TEST_MODEL, 50, 1, 100, tmp_path))
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


def test_regenerate_and_generate_use_the_cached_model(backend, stack) -> None:
    loads = backend.models.loads
    steps: list = []
    edited, index, _ = backend.edit(stack, 1, "regenerate", prompt="a star", model=TEST_MODEL,
                                    report=lambda value, desc: steps.append(value))
    assert index == 1 and np.array_equal(edited[0].pixels, stack[0].pixels)
    assert not np.array_equal(edited[1].pixels, stack[1].pixels)
    assert steps[-1] == (2, 2)  # the preset's 2 sampling steps, reported by callback_on_step_end
    generated = backend.generate("a poster", 2, TEST_MODEL)
    assert len(generated) == 2
    assert backend.models.loads - loads <= 1  # one load per process, shared by every task
    backend.generate("again", 2, TEST_MODEL)
    assert backend.models.get(TEST_MODEL, "edit").transformer is backend.models.get(TEST_MODEL).transformer


def test_concurrent_runs_of_one_model_match_sequential_ones(backend) -> None:
    from concurrent.futures import ThreadPoolExecutor

    assert backend.models.running(TEST_MODEL) is backend.models.running(TEST_MODEL)
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
                                   pipeline=preset.pipeline, components=preset.components,
                                   weights="embedded:demo-test-missing")
    monkeypatch.setitem(registry._REGISTRY, missing.name, missing)  # restored after the test
    with pytest.raises(LayerdiffError, match="demo-test-missing"):
        backend.decompose(sample_png(tmp_path), True, 3, "demo-test-missing")

    @demo_app._user_errors
    def handler() -> None:
        backend.decompose(sample_png(tmp_path), True, 3, "demo-test-missing")

    with pytest.raises(gr.Error, match="demo-test-missing"):
        handler()


def test_export_writes_loadable_files(backend, stack) -> None:
    for fmt in ("psd", "ora", "zip"):
        path = backend.export(stack, fmt)
        assert path.parent.parent == backend.settings.work_dir and path.suffix == f".{fmt}"
        back = load(path)
        assert len(back) == 2 and back.size == (32, 24)
    with pytest.raises(LayerdiffError, match="nothing to download"):
        backend.export(None, "psd")


def test_views_put_layers_on_a_checkerboard(stack) -> None:
    gallery = demo_app.layer_gallery(stack)
    assert [caption for _, caption in gallery] == ["0 · bg", "1 · dot"]
    thumb = gallery[1][0]
    assert thumb.shape == (24, 32, 3) and thumb.dtype == np.uint8
    assert len(np.unique(thumb[0:4, 0:8].reshape(-1, 3), axis=0)) == 2  # transparent -> two checker greys
    assert tuple(thumb[10, 10]) == (230, 26, 26)
    preview = demo_app.composite_preview(stack)  # small composites are enlarged by a whole factor
    assert preview.shape == (24 * 8, 32 * 8, 3) and tuple(preview[10 * 8 + 3, 10 * 8 + 5]) == (230, 26, 26)
    assert demo_app.parse_css_color("#abc") == "#aabbcc"
    assert demo_app.parse_css_color("rgb(255, 0, 16)") == "#ff0010"
    with pytest.raises(ValueError, match="not '#rrggbb'"):
        demo_app.parse_css_color("red")


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
    gallery, _, status, _ = client.predict("a red circle on blue", 2, TEST_MODEL, 0, 2, api_name="/generate")
    assert len(gallery) == 2 and "Generated" in status


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
