"""The demo's per-session state and what the browser downloads: undo, bounded history, downloads of the
current stack named after the input, pictures that are never rewritten once handed out."""

from __future__ import annotations

import os
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from demo_server import TEST_MODEL
from PIL import Image

from demo import app as demo_app
from demo import views
from demo.backend import Session, safe_stem
from layerdiff.errors import LayerdiffError
from layerdiff.io import load
from layerdiff.layered import Layer, LayeredImage


def poster() -> LayeredImage:
    """Three opaque-ish 40x30 layers: a sky, a sun and a title bar."""
    sky = np.zeros((30, 40, 4), np.float32)
    sky[...] = (0.2, 0.4, 0.9, 1.0)
    sun = np.zeros((30, 40, 4), np.float32)
    sun[4:14, 24:34] = (1.0, 0.85, 0.1, 1.0)
    title = np.zeros((30, 40, 4), np.float32)
    title[22:27, 4:36] = (0.1, 0.1, 0.1, 1.0)
    return LayeredImage((40, 30), [Layer(sky, name="Sky"), Layer(sun, name="Sun"), Layer(title, name="Title")])


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> gr.Blocks:
    return demo_app.build_app(default_model=TEST_MODEL, work_dir=tmp_path_factory.mktemp("demo-session"))


def handler(app: gr.Blocks, name: str):
    return next(f.fn for f in app.fns.values() if f.name == name)


def button_value(update: gr.DownloadButton) -> str | None:
    """The file a ``gr.DownloadButton(value=...)`` update offers (Gradio's copy of it)."""
    return update.value["path"] if update.value is not None else None


def svg_layer_names(path: str) -> list[str]:
    """The Inkscape layer labels of a layered SVG, bottom to top."""
    import xml.etree.ElementTree as ET

    label = "{http://www.inkscape.org/namespaces/inkscape}label"
    return [g.get(label) for g in ET.parse(path).getroot().iter("{http://www.w3.org/2000/svg}g") if g.get(label)]


def test_download_after_delete_serves_the_current_stack_named_after_the_input(app, tmp_path) -> None:
    """Delete "Sun", download: the PSD (and ORA, ZIP, SVG) have one layer fewer, named poster_layers.*."""
    delete, downloads = handler(app, "edit_delete"), handler(app, "downloads")
    session = Session.start(poster(), "poster")
    *offers, undo = downloads(session)
    assert [Path(button_value(o)).name for o in offers] == ["poster_layers.psd", "poster_layers.ora",
                                                             "poster_layers.zip", "poster_layers.svg"]
    *layered, svg = offers
    assert [len(load(button_value(o))) for o in layered] == [3, 3, 3] and not undo.interactive
    assert svg_layer_names(button_value(svg)) == ["Sky", "Sun", "Title"]
    _, _, status, _, session = delete(session, 1, 0, 0, "#000000", "", TEST_MODEL, 0, 0)
    assert "Deleted layer 'Sun'" in status and "Undo" in status
    *offers, undo = downloads(session)
    *layered, svg = offers
    for offer in layered:
        stack = load(button_value(offer))
        assert [layer.name for layer in stack] == ["Sky", "Title"], offer
    assert svg_layer_names(button_value(svg)) == ["Sky", "Title"]
    assert undo.interactive and undo.value == "Undo (1)"
    # While a change is under way the buttons offer nothing (a click cannot fetch the old stack).
    cleared = handler(app, "begin_change")()
    assert all(button_value(c) is None and c.interactive is False for c in cleared)


def test_undo_restores_deleted_and_edited_layers(app) -> None:
    delete, move, undo = handler(app, "edit_delete"), handler(app, "edit_move"), handler(app, "undo")
    original = poster()
    session = Session.start(original, "poster")
    *_, session = delete(session, 1, 0, 0, "#000000", "", TEST_MODEL, 0, 0)
    *_, session = move(session, 1, 3, -2, "#000000", "", TEST_MODEL, 0, 0)
    assert [layer.name for layer in session.image] == ["Sky", "Title"] and session.image[1].offset == (3, -2)
    _, _, status, _, session = undo(session)
    assert status.startswith("Undid: Moved layer 'Title' by (3, -2) px") and session.image[1].offset == (0, 0)
    _, _, status, _, session = undo(session)
    assert status.startswith("Undid: Deleted layer 'Sun'") and session.image is original
    with pytest.raises(gr.Error, match="nothing to undo"):
        undo(session)


def with_bottom(image: LayeredImage, value: float) -> LayeredImage:
    """``image`` with a new bottom layer filled with ``value``; the other layers are the same objects."""
    bottom = Layer(np.full((image.height, image.width, 4), value, np.float32), name=f"v{value}")
    return LayeredImage(image.size, [bottom, *image.layers[1:]])


def test_history_is_bounded_by_steps_and_by_the_pixels_it_alone_keeps() -> None:
    session = Session.start(poster(), "poster")
    for i in range(5):
        session = session.edited(with_bottom(session.image, i / 10), f"edit {i}", steps=3, budget=10**9)
    assert [message for _, message in session.history] == ["edit 2", "edit 3", "edit 4"]
    # Each old stack keeps one layer alive that no other stack shares (its bottom); a budget of two such
    # layers keeps the two newest stacks.
    layer_bytes = 30 * 40 * 4 * 4
    bounded = session.edited(with_bottom(session.image, 0.9), "last", steps=10, budget=2 * layer_bytes)
    assert [message for _, message in bounded.history] == ["edit 4", "last"]
    assert bounded.history[-1][0] is session.image
    assert Session.start(poster(), "x").edited(poster(), "y", steps=0).history == ()
    with pytest.raises(LayerdiffError, match="nothing to undo"):
        Session().undone()


def test_new_upload_starts_a_fresh_session_without_history(app, tmp_path) -> None:
    path = tmp_path / "holiday card.png"
    Image.fromarray(np.full((20, 30, 3), 200, np.uint8)).save(path)
    *_, session = handler(app, "open_upload")(str(path))
    assert session.stem == "holiday_card" and session.history == () and len(session.image) == 1


def test_file_stems_are_safe() -> None:
    assert safe_stem("poster") == "poster"
    assert safe_stem("../../etc/passwd") == "etc_passwd"
    assert safe_stem("a red circle on a blue sky!") == "a_red_circle_on_a_blue_sky"
    assert safe_stem("", "generated") == "generated" and safe_stem("***") == "layers"
    assert len(safe_stem("x" * 300)) == 48


def test_pictures_are_fresh_files_never_rewritten(tmp_path) -> None:
    """Identical stacks rendered at once get their own files; a file handed out is not touched again (Gradio
    rewrote its own encodings of identical pictures in place while other clients downloaded them)."""
    image = poster()
    gallery, composite = views.render_stack(image, tmp_path)
    before = os.stat(composite)
    again_gallery, again = views.render_stack(image, tmp_path)
    assert again != composite and {p for p, _ in gallery}.isdisjoint(p for p, _ in again_gallery)
    after = os.stat(composite)
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (before.st_ino, before.st_mtime_ns, before.st_size)
    assert np.array_equal(np.asarray(Image.open(again)), np.asarray(Image.open(composite)))
    assert not list(tmp_path.rglob("*.part"))  # written under a temporary name, then renamed


def hostile_ora(path: Path, layers: int = 200, side: int = 2048) -> Path:
    """A small ORA whose ``layers`` layers all point at one ``side``² PNG (decoded: layers * side² * 16 B)."""
    import io
    import zipfile

    png = io.BytesIO()
    Image.new("1", (side, side)).save(png, format="PNG")
    stack = "".join(f'<layer name="l{i}" src="data/a.png" x="0" y="0"/>' for i in range(layers))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), "image/openraster")
        zf.writestr("stack.xml", f'<image w="{side}" h="{side}"><stack>{stack}</stack></image>')
        zf.writestr("data/a.png", png.getvalue())
    return path


def test_a_small_file_that_decodes_huge_is_refused_up_front(app, tmp_path) -> None:
    """The demo reads uploads within the library's decoded-size budget (``--max-decoded-mb``)."""
    import tracemalloc

    path = hostile_ora(tmp_path / "bomb.ora")
    assert path.stat().st_size < 64 * 1024
    backend = app.layerdiff_backend
    tracemalloc.start()
    try:
        with pytest.raises(LayerdiffError) as err:
            backend.open(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(err.value)
    assert message.startswith("bomb.ora: ") and "too large" in message and "\n" not in message
    assert peak < 256 * 1024**2  # refused from the declared sizes, before the layers are decoded
    with pytest.warns(UserWarning, match="too large"):  # the UI shows the same line
        out = handler(app, "open_upload")(str(path))
    assert "Could not open the file" in out[2] and all(isinstance(o, type(gr.skip())) for o in out[3:])


def test_a_16_bit_stack_says_which_downloads_keep_16_bits() -> None:
    deep = poster()
    deep.bit_depth = 16
    assert "16-bit: PSD, ORA and ZIP keep 16 bits; previews and SVG are 8-bit" in views.describe(deep)
    assert "16-bit" not in views.describe(poster())


def test_a_download_refresh_overtaken_by_a_newer_change_offers_nothing(app, monkeypatch) -> None:
    """A refresh still writing the files of an earlier stack when the next change begins must not re-enable
    the buttons with those files (a click then would download the stack before the change)."""
    from types import SimpleNamespace

    begin, downloads = handler(app, "begin_change"), handler(app, "downloads")
    handlers = downloads.__self__
    request = SimpleNamespace(session_hash="tab-1")
    begin(request)
    session = Session.start(poster(), "poster")
    offers = downloads(session, request)
    assert all(button_value(offer) for offer in offers[:-1])  # nothing changed meanwhile: every file offered

    write = handlers.backend.exports

    def slow_write(image, stem):
        begin(request)  # the user deletes a layer while this refresh writes the old stack
        return write(image, stem)

    monkeypatch.setattr(handlers.backend, "exports", slow_write)
    assert all(offer == gr.skip() for offer in downloads(session, request))
    other = SimpleNamespace(session_hash="tab-2")  # another browser tab's changes do not count
    monkeypatch.setattr(handlers.backend, "exports", write)
    begin(other)
    assert all(button_value(offer) for offer in downloads(session, request)[:-1])
