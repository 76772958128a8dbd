"""End to end in headless Chromium: the web demo decomposes, downloads, edits, generates and refuses bad
files.

The server runs ``layerdiff demo --model tiny-random``. Chromium is Debian's ``/usr/bin/chromium``
(``apt-get install chromium``), driven by the ``playwright`` package. Screenshots go to
``$LAYERDIFF_ARTIFACTS`` (default ``<repo>/build/artifacts/demo``).
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import numpy as np
import pytest
from demo_server import demo_server
from PIL import Image
from playwright.sync_api import Browser, Page, expect, sync_playwright

from layerdiff import edit_ops
from layerdiff.io import load

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "layerdiff" / "samples" / "poster.png"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MODEL_TIMEOUT_MS = 90_000  # a model call, the first one including the model load, on a busy CI machine

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def artifacts() -> Path:
    folder = Path(os.environ.get("LAYERDIFF_ARTIFACTS") or REPO / "build" / "artifacts" / "demo")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def server(artifacts):
    with demo_server(log_dir=artifacts) as running:
        yield running
    assert running.work_dir is not None and not running.work_dir.exists()  # temp files removed at exit


@pytest.fixture(scope="module")
def browser() -> Browser:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser, server) -> Page:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.goto(server.url)
    expect(page.locator("#decompose")).to_be_visible(timeout=30_000)
    yield page
    context.close()


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


def composite_pixels(page: Page) -> tuple[str, np.ndarray]:
    """The composite preview's URL and pixels, fetched as the browser sees them."""
    src = page.locator("#composite img").first.get_attribute("src")
    body = page.request.get(src).body()
    return src, np.asarray(Image.open(io.BytesIO(body)).convert("RGB"), np.float32) / 255.0


def test_decompose_download_edit_generate(page: Page, tmp_path: Path, artifacts: Path) -> None:
    t0 = time.perf_counter()
    source = sample_png(tmp_path)
    status = page.locator("#status")
    thumbnails = page.locator("#gallery .thumbnail-item")

    # Upload and decompose into 3 layers.
    page.locator("#upload input[type=file]").set_input_files(str(source))
    expect(status).to_contain_text(f"Opened {source.name}", timeout=30_000)
    page.locator("#automatic input[type=checkbox]").uncheck()
    layers = page.locator("#layers input[type=number]")
    layers.fill("3")
    layers.press("Tab")
    page.locator("#decompose").click()
    expect(status).to_contain_text("Decomposed", timeout=MODEL_TIMEOUT_MS)
    expect(status).to_contain_text("3 layers")
    expect(thumbnails).to_have_count(3)
    expect(page.locator("#gallery .caption-label").first).to_have_text("0 · Background")
    page.screenshot(path=str(artifacts / "01-decomposed.png"), full_page=True)

    # Download the PSD: it opens with the same 3 layers, which recompose the input.
    page.locator("#export-psd").click()
    link = page.locator("#download a[href$='layers.psd']")
    expect(link).to_be_visible(timeout=30_000)
    with page.expect_download() as download:
        link.click()
    psd_path = tmp_path / "download.psd"
    download.value.save_as(psd_path)
    stack = load(psd_path)
    width, height = Image.open(source).size
    assert len(stack) == 3 and stack.size == (width, height)
    flat = np.asarray(Image.open(source).convert("RGBA"), np.float32) / 255.0
    assert np.abs(stack.composite() - flat).mean() < 0.01

    # Edit: hide the layer whose absence changes the composite most; the preview follows.
    change = [np.abs(edit_ops.set_visible(stack, i, False).composite() - stack.composite()).mean()
              for i in range(len(stack))]
    k = int(np.argmax(change))
    page.get_by_role("tab", name="Edit").click()
    thumbnails.nth(k).click()  # selecting a thumbnail selects the layer
    expect(page.locator("#layer-select input")).to_have_value(f"{k} · {stack[k].name}", timeout=15_000)
    before_src, before = composite_pixels(page)
    page.locator("#edit-toggle").click()
    expect(status).to_contain_text(f"Hid layer '{stack[k].name}'", timeout=30_000)
    expect(status).to_contain_text("1 hidden")
    expect(page.locator("#composite img").first).not_to_have_attribute("src", before_src)
    _, after = composite_pixels(page)
    assert after.shape == before.shape and np.abs(after - before).mean() > 0.01
    expect(page.locator("#gallery .caption-label").nth(k)).to_contain_text("(hidden)")
    page.screenshot(path=str(artifacts / "02-edited.png"), full_page=True)

    # Generate from a prompt.
    page.get_by_role("tab", name="Generate").click()
    page.locator("#prompt textarea").fill("a red circle on a blue sky")
    page.locator("#generate").click()
    expect(status).to_contain_text("Generated 'a red circle on a blue sky'", timeout=MODEL_TIMEOUT_MS)
    expect(thumbnails).to_have_count(3)
    page.screenshot(path=str(artifacts / "03-generated.png"), full_page=True)
    assert time.perf_counter() - t0 < 100


def test_bad_upload_shows_the_reason(page: Page, tmp_path: Path, artifacts: Path) -> None:
    bad = tmp_path / "noise.png"
    bad.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    page.locator("#upload input[type=file]").set_input_files(str(bad))
    status = page.locator("#status")
    expect(status).to_contain_text("Could not open the file", timeout=30_000)
    expect(status).to_contain_text("noise.png: unknown file signature")
    expect(page.locator(".toast-body").filter(has_text="unknown file signature")).to_be_visible()
    page.wait_for_timeout(600)  # let the toast finish fading in
    page.screenshot(path=str(artifacts / "04-bad-file.png"))  # the viewport, with the toast
    # Decomposing it anyway shows the same reason as an error, and the page keeps working.
    page.locator("#decompose").click()
    expect(page.locator(".toast-body").filter(has_text="Error")).to_be_visible(timeout=30_000)
    expect(page.locator("#decompose")).to_be_enabled()
    page.wait_for_timeout(600)
    page.screenshot(path=str(artifacts / "05-bad-file-decompose.png"))
