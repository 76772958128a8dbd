"""End to end in headless Chromium: the web demo decomposes, downloads, edits, generates, extracts clicked
objects layer by layer and refuses bad files.

The server runs ``layerdiff demo --model tiny-random``. Chromium is Debian's ``/usr/bin/chromium``
(``apt-get install chromium``), driven by the ``playwright`` package. Screenshots go to
``$LAYERDIFF_ARTIFACTS`` (default ``<repo>/build/artifacts/demo``).
"""

from __future__ import annotations

import io
import json
import os
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from demo_server import demo_server
from PIL import Image
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

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


def download_stack(page: Page, fmt: str, name: str, path: Path):
    """One click on a download button (``fmt``: psd, ora or zip) once it offers the current stack; the file
    must be called ``name``; it is saved to ``path`` and loaded."""
    button = page.locator(f"#download-{fmt}")
    expect(button).to_be_enabled(timeout=30_000)
    with page.expect_download() as download:
        button.click()
    assert download.value.suggested_filename == name
    download.value.save_as(path)
    return load(path)


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

    # Download the PSD (one click, named after the input): the same 3 layers, which recompose the input.
    stack = download_stack(page, "psd", f"{source.stem}_layers.psd", tmp_path / "download.psd")
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

    # Delete the top layer: the download that follows has one layer fewer; Undo brings it back.
    page.locator("#layer-select input").click()
    page.get_by_role("option", name=f"2 · {stack[2].name}").click()
    page.locator("#edit-delete").click()
    expect(status).to_contain_text(f"Deleted layer '{stack[2].name}'", timeout=30_000)
    expect(thumbnails).to_have_count(2)
    after_delete = download_stack(page, "psd", f"{source.stem}_layers.psd", tmp_path / "deleted.psd")
    assert [layer.name for layer in after_delete] == [layer.name for layer in stack][:2]
    expect(page.locator("#undo")).to_be_enabled()
    page.locator("#undo").click()
    expect(status).to_contain_text(f"Undid: Deleted layer '{stack[2].name}'", timeout=30_000)
    expect(thumbnails).to_have_count(3)
    restored = download_stack(page, "ora", f"{source.stem}_layers.ora", tmp_path / "restored.ora")
    assert len(restored) == 3 and not restored[k].visible  # the state before the delete: k still hidden

    # Generate from a prompt.
    page.get_by_role("tab", name="Generate").click()
    page.locator("#prompt textarea").fill("a red circle on a blue sky")
    page.get_by_text("Without the plan: whole caption or one prompt per layer").click()
    page.locator("#layer-prompts textarea").fill("a blue sky\na red circle")  # layers 0 and 1 named
    page.locator("#generate").click()
    expect(status).to_contain_text("Generated 'a red circle on a blue sky'", timeout=MODEL_TIMEOUT_MS)
    expect(thumbnails).to_have_count(3)
    page.screenshot(path=str(artifacts / "03-generated.png"), full_page=True)
    assert time.perf_counter() - t0 < 100


def test_a_single_layer_keeps_a_thumbnail_size(page: Page, tmp_path: Path, artifacts: Path) -> None:
    source = sample_png(tmp_path)
    page.locator("#upload input[type=file]").set_input_files(str(source))
    expect(page.locator("#status")).to_contain_text(f"Opened {source.name}", timeout=30_000)
    thumbnail = page.locator("#gallery .thumbnail-item")
    expect(thumbnail).to_have_count(1)
    page.wait_for_timeout(600)  # let the thumbnail fade in
    panel = page.locator("#gallery").bounding_box()
    box = thumbnail.first.bounding_box()
    assert box["width"] < panel["width"] / 2, (box, panel)  # one of four columns, not the whole panel
    page.screenshot(path=str(artifacts / "08-single-layer.png"), full_page=True)


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


def click_image(image: Locator, x: float, y: float) -> None:
    """Click the displayed image at pixel (x, y) of the image the server sent (the preview may be scaled and
    letterboxed in its element, as Gradio's own click-to-pixel mapping assumes)."""
    image.scroll_into_view_if_needed()
    box = image.bounding_box()
    nw, nh = image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    r = min(box["width"] / nw, box["height"] / nh, 1.0)
    ox, oy = (box["width"] - nw * r) / 2, (box["height"] - nh * r) / 2
    image.click(position={"x": ox + (x + 0.5) * r, "y": oy + (y + 0.5) * r})


def test_extract_by_clicking_then_peel_again(page: Page, tmp_path: Path, artifacts: Path) -> None:
    source = sample_png(tmp_path)
    poster = source == SAMPLE  # else the generated design: a red disc around (40, 30) on a gradient
    corners = ((292, 22), (510, 258)) if poster else ((20, 11), (60, 49))  # a box around the sun / the disc
    inside, outside = ((405, 140), (50, 50)) if poster else ((40, 30), (85, 5))
    point = (110, 228) if poster else (5, 60)  # on the text panel / the gradient
    status, info = page.locator("#status"), page.locator("#extract-info")
    thumbnails = page.locator("#gallery .thumbnail-item")
    canvas = page.locator("#extract-canvas img").first

    # Open the image on the Decompose tab; opening the Extract tab shows it on the canvas.
    page.locator("#upload input[type=file]").set_input_files(str(source))
    expect(status).to_contain_text(f"Opened {source.name}", timeout=30_000)
    page.get_by_role("tab", name="Extract").click()
    expect(canvas).to_be_visible(timeout=30_000)
    expect(info).to_contain_text("Click the object", timeout=15_000)

    # Two clicks in box mode draw a box; Extract pulls the object out above the filled background.
    page.locator("#click-mode label").filter(has_text="Box").click()
    click_image(canvas, *corners[0])
    expect(info).to_contain_text("click the opposite corner", timeout=15_000)
    before = canvas.get_attribute("src")
    click_image(canvas, *corners[1])
    expect(info).to_contain_text("Prompt: box", timeout=15_000)
    expect(canvas).not_to_have_attribute("src", before)  # the box is drawn on the canvas
    page.wait_for_timeout(600)  # let the new canvas fade in
    page.screenshot(path=str(artifacts / "06-extract-box.png"), full_page=True)
    page.locator("#extract").click()
    expect(status).to_contain_text("Extracted 'object (box)'", timeout=MODEL_TIMEOUT_MS)
    expect(thumbnails).to_have_count(2)
    expect(info).to_contain_text("click the next object to peel it off")

    # Peel again from the filled background with an include point.
    page.locator("#click-mode label").filter(has_text="Include").click()
    click_image(canvas, *point)
    expect(info).to_contain_text("Prompt: 1 include point.", timeout=15_000)
    page.locator("#extract").click()
    expect(status).to_contain_text("Extracted 'object (point)'", timeout=MODEL_TIMEOUT_MS)
    expect(thumbnails).to_have_count(3)
    expect(page.locator("#gallery .caption-label").nth(2)).to_have_text("2 · object (box)")
    page.wait_for_timeout(1000)  # let the new thumbnails and canvas fade in
    page.screenshot(path=str(artifacts / "07-extract-peeled.png"), full_page=True)

    # Without a prompt: a one-line reason, the stack unchanged.
    page.locator("#extract").click()
    expect(info).to_contain_text("Could not extract. no prompt given", timeout=30_000)
    expect(thumbnails).to_have_count(3)

    # The download holds [background, point object, box object]; the box object is where the box was.
    stack = download_stack(page, "zip", f"{source.stem}_layers.zip", tmp_path / "download.zip")
    assert [layer.name for layer in stack][1:] == ["object (point)", "object (box)"]
    alpha = stack[2].on_canvas(stack.size)[..., 3]  # (H, W)
    assert alpha[inside[1], inside[0]] > 0.5 and alpha[outside[1], outside[0]] < 0.5
    assert stack[1].on_canvas(stack.size)[point[1], point[0], 3] > 0.5
    flat = np.asarray(Image.open(source).convert("RGBA"), np.float32) / 255.0
    assert np.abs(stack.composite() - flat).max() <= 2 / 255  # the peeled stack still recomposes the input


def svg_download(page: Page, name: str, path: Path) -> ET.Element:
    """One click on the SVG download once it offers the current stack; the file must be called ``name``."""
    button = page.locator("#download-svg")
    expect(button).to_be_enabled(timeout=30_000)
    with page.expect_download() as download:
        button.click()
    assert download.value.suggested_filename == name
    download.value.save_as(path)
    return ET.parse(path).getroot()


def replace_plan(page: Page, text: str) -> None:
    """Type ``text`` over the plan's JSON in its code box, as a user would."""
    editor = page.locator("#plan .cm-content")
    editor.click()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.insert_text(text)


def test_plan_generate_then_edit_the_text_and_download_svg(page: Page, tmp_path: Path, artifacts: Path) -> None:
    caption = 'a red circle and "Sale" in white on a blue background'
    status, plan_info = page.locator("#status"), page.locator("#plan-info")
    thumbnails = page.locator("#gallery .thumbnail-item")

    # Typing a caption shows its plan: the background, the object and the quoted text, bottom to top.
    page.get_by_role("tab", name="Generate").click()
    page.locator("#prompt textarea").fill(caption)
    expect(plan_info).to_contain_text("Plan: 3 layers", timeout=15_000)
    expect(plan_info.locator("tr")).to_have_count(4)
    expect(plan_info.locator("tr").nth(3)).to_contain_text('text "Sale"')
    expect(page.locator("#plan .cm-content")).to_contain_text('"circle"')
    page.screenshot(path=str(artifacts / "09-plan.png"), full_page=True)

    # Edit the plan (a green background), then generate from it at 192x128.
    plan = json.loads(page.locator("#plan .cm-content").inner_text())
    plan["background"]["colors"] = ["green"]
    replace_plan(page, json.dumps(plan, indent=2))
    expect(plan_info.locator("tr").nth(1)).to_contain_text("green", timeout=15_000)
    page.locator("#gen-width input").fill("192")
    page.locator("#gen-height input").fill("128")
    page.locator("#generate").click()
    expect(status).to_contain_text("from its plan (3 layers)", timeout=MODEL_TIMEOUT_MS)
    expect(status).to_contain_text("192×128 px")
    expect(thumbnails).to_have_count(3)
    _, composite = composite_pixels(page)
    assert np.abs(composite[2, 2] - np.array([40, 160, 70]) / 255).max() < 0.03  # the edited green
    page.wait_for_timeout(600)
    page.screenshot(path=str(artifacts / "10-generated-from-plan.png"), full_page=True)

    # A broken plan: one line under the plan and in a toast; the stack stays.
    replace_plan(page, '{"background": {"kind": "solid", "colors": ["reddish"]}}')
    expect(plan_info).to_contain_text("Could not use the plan. plan: background: colour 'reddish'",
                                      timeout=15_000)
    page.locator("#generate").click()
    expect(page.locator(".toast-body").filter(has_text="reddish")).to_be_visible(timeout=30_000)
    expect(thumbnails).to_have_count(3)
    page.wait_for_timeout(600)
    page.screenshot(path=str(artifacts / "11-bad-plan.png"))

    # The Edit tab shows the text layer's words and style; new words, size and colour re-render it.
    page.get_by_role("tab", name="Edit").click()
    thumbnails.nth(2).click()
    expect(page.locator("#text-info")).to_contain_text("Layer 2 is a text layer", timeout=15_000)
    words = page.locator("#text-words textarea")
    expect(words).to_have_value("Sale")
    page.wait_for_timeout(600)
    page.screenshot(path=str(artifacts / "12-text-layer.png"), full_page=True)
    before_src, before = composite_pixels(page)
    words.fill("Big Sale")
    page.locator("#text-size input").fill("30")
    page.locator("#edit-text").click()
    expect(status).to_contain_text("Changed text layer", timeout=30_000)
    expect(status).to_contain_text("to 'Big Sale'")
    expect(page.locator("#composite img").first).not_to_have_attribute("src", before_src)
    _, after = composite_pixels(page)
    assert np.abs(after - before).mean() > 0.005
    expect(page.locator("#text-info")).to_contain_text("30 px")
    page.wait_for_timeout(600)
    page.screenshot(path=str(artifacts / "13-text-edited.png"), full_page=True)

    # The SVG download (one click, named after the caption): raster layers as images, the text as <text>.
    root = svg_download(page, "a_red_circle_and_Sale_in_white_on_a_blue_backgro_layers.svg", tmp_path / "x.svg")
    texts = list(root.iter("{http://www.w3.org/2000/svg}text"))
    assert [t.text for t in texts] == ["Big Sale"] and texts[0].get("font-size") == "30px"
    assert len(list(root.iter("{http://www.w3.org/2000/svg}image"))) == 2
