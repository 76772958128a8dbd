"""Flat vector art on a transparent canvas (flags, icons, emoji) splits per paint, in order (issue 28 item 2g),
and the held-out flag set of ``benchmarks/bench_flags.py``."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from bench_scripts import load_benchmark
from PIL import Image

from layerdiff.data.emoji import (
    EmojiLibrary,
    element_groups,
    element_layers,
    flag_stems,
    flatten_groups,
    is_flag,
    never_trained,
)
from layerdiff.regions.decomposer import RegionLayerDecomposer, predict_relations
from layerdiff.regions.graph import region_graph
from layerdiff.regions.solve import canvas_background
from layerdiff.regions.vector_art import cut_under_layers, transparent_canvas

DATA = Path(__file__).parent / "data"
FLAGS = DATA / "flags"
EMOJI = DATA / "emoji"
PX = 128


def _render(svg: Path, px: int = PX) -> np.ndarray:
    import cairosvg

    png = cairosvg.svg2png(url=str(svg), output_width=px, output_height=px)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"), np.float32) / 255.0  # (px, px, 4)


@pytest.fixture(scope="module")
def decomposer() -> RegionLayerDecomposer:
    return RegionLayerDecomposer.from_pretrained("layerdiff-tiny")


def _owners(stack: np.ndarray) -> np.ndarray:
    """(h, w) index of the top-most layer with alpha > 0.5 at each pixel, -1 where none."""
    shown = stack[..., 3] > 0.5  # (L, h, w)
    top = stack.shape[0] - 1 - np.argmax(shown[::-1], axis=0)
    return np.where(shown.any(0), top, -1)


def _decompose(dec: RegionLayerDecomposer, rgba: np.ndarray, vector_art: bool = True) -> np.ndarray:
    dec.vector_art = vector_art
    try:
        image = Image.fromarray(np.round(rgba * 255).astype(np.uint8), "RGBA")
        return dec.decompose(image, "auto").to_numpy()  # (L, h, w, 4)
    finally:
        dec.vector_art = True


CANTON_POINTS = {"field": (80, 35), "stripe": (80, 48), "lower stripe": (30, 72), "canton": (24, 36),
                 "canton over stripe": (24, 48), "canvas": (5, 5)}
"""Points (x, y) of canton.svg's 120-unit view box."""


def _at(owner: np.ndarray) -> dict[str, int]:
    return {name: int(owner[round(y * PX / 120), round(x * PX / 120)]) for name, (x, y) in CANTON_POINTS.items()}


def test_canton_flag_splits_into_field_stripes_and_canton_in_order(decomposer: RegionLayerDecomposer) -> None:
    at = _at(_owners(_decompose(decomposer, _render(FLAGS / "canton.svg"))))
    assert at["canvas"] == -1  # nothing invented on the transparent canvas
    assert at["field"] == 0  # the largest paint is the background
    assert at["stripe"] == at["lower stripe"] > 0  # the stripes of one paint: one layer
    assert at["canton"] == at["canton over stripe"] > at["stripe"]  # the canton lies over the stripes
    # the pair model alone leaves the stripes or the canton in the field's layer
    before = _at(_owners(_decompose(decomposer, _render(FLAGS / "canton.svg"), vector_art=False)))
    assert before["field"] in (before["stripe"], before["canton"])


def test_emoji_face_features_lie_above_the_face_above_nothing(decomposer: RegionLayerDecomposer) -> None:
    rgba = EmojiLibrary(EMOJI).render("u1f600", PX)  # (PX, PX, 4) grinning face
    stack = _decompose(decomposer, rgba)
    owner = _owners(stack)
    upper = np.arange(PX)[:, None] < PX // 2
    eyes = upper & (rgba[..., :3].sum(-1) < 0.8) & (rgba[..., 3] > 0.9)  # the dark eyes above the mouth
    assert eyes.sum() > 10
    eye = np.bincount(owner[eyes] + 1).argmax() - 1
    face, corner = owner[PX // 4, PX // 2], owner[1, 1]  # the forehead; the canvas
    assert corner == -1 and (stack[:, 1, 1, 3] == 0).all()
    assert face == 0 < eye


def test_czech_flag_triangle_and_fields_are_layers_of_their_own(decomposer: RegionLayerDecomposer) -> None:
    layers, _ = element_layers(flatten_groups((FLAGS / "u1f1e8_1f1ff.svg").read_bytes()), PX)
    composite = layers[0]
    from layerdiff.blend import over

    for layer in layers[1:]:
        composite = over(composite, layer)
    owner = _owners(_decompose(decomposer, composite))
    truth = _owners(np.stack(layers))
    main = [k for k in range(3) if (truth == k).sum() > 0.05 * PX * PX]  # red, white, blue triangle
    assert len(main) == 3
    found = [np.bincount(owner[truth == k] + 1).argmax() - 1 for k in main]  # the layer showing each
    assert len(set(found)) == 3 and min(found) == 0


def test_canvas_background_takes_canvas_and_largest_paint_only() -> None:
    rgba = _render(FLAGS / "canton.svg")
    graph = region_graph(rgba)
    r = graph.regions
    n = r.count
    same, bg = np.full((n, n), 0.9), np.ones(n)  # a pair model that puts everything in one background
    new_same, new_bg = canvas_background(r, same, bg)
    red = r.labels[round(35 * PX / 120), round(80 * PX / 120)]
    white = r.labels[round(48 * PX / 120), round(80 * PX / 120)]
    lower = r.labels[round(72 * PX / 120), round(80 * PX / 120)]
    canton = r.labels[round(36 * PX / 120), round(24 * PX / 120)]
    canvas = r.labels[1, 1]
    assert new_bg[red] == new_bg[canvas] == 1.0 and new_bg[white] == new_bg[canton] == 0.0
    assert white != lower and new_same[white, lower] >= 0.7  # one paint, two regions
    assert new_same[white, canton] < 0.3 and new_same[canvas, canton] == 0.0
    opaque = np.concatenate([np.full((PX, PX, 3), 0.5, np.float32), np.ones((PX, PX, 1), np.float32)], -1)
    opaque[40:80, 40:80, :3] = (0.9, 0.1, 0.1)
    flat = region_graph(opaque).regions
    m = flat.count
    same, bg = np.full((m, m), 0.9), np.ones(m)
    assert canvas_background(flat, same, bg) == (same, bg)  # an opaque design: unchanged


def test_canvas_background_leaves_photographs_alone(decomposer: RegionLayerDecomposer) -> None:
    rng = np.random.default_rng(0)
    rgba = np.zeros((PX, PX, 4), np.float32)
    rgba[16:112, 16:112, :3] = rng.random((96, 96, 3))  # a noise "photo" sticker
    rgba[16:112, 16:112, 3] = 1.0
    graph = region_graph(rgba)
    same, _, bg = predict_relations(decomposer.layerer, graph)
    out_same, out_bg = canvas_background(graph.regions, same, bg)
    assert out_same is same and out_bg is bg


def test_flags_are_held_out_and_their_groups_become_elements(tmp_path: Path) -> None:
    assert is_flag("u1f1e8_1f1ff") and not is_flag("u1f600") and not is_flag("u0031_20e3")
    assert not never_trained("u1f1e8_1f1ff")  # flags are a set of their own, not the emoji held-out set
    for name in ("u1f1e8_1f1ff.svg", "u1f1ec_1f1f7.svg", "LICENSE-noto-emoji.txt"):
        shutil.copy(FLAGS / name, tmp_path / name)
    shutil.copy(EMOJI / "u1f600.svg", tmp_path / "u1f600.svg")
    assert flag_stems(tmp_path) == ["u1f1e8_1f1ff", "u1f1ec_1f1f7"]
    assert EmojiLibrary(tmp_path).names == ["u1f600"]  # what training draws: no flag
    svg = (FLAGS / "u1f1e8_1f1ff.svg").read_bytes()
    flat = flatten_groups(svg)
    assert flat.count(b"path d=") == svg.count(b"path d=") == 4
    import cairosvg

    whole = _render(FLAGS / "u1f1e8_1f1ff.svg", 64)  # (64, 64, 4)
    lifted = np.asarray(Image.open(io.BytesIO(cairosvg.svg2png(bytestring=flat, output_width=64,
                                                               output_height=64))).convert("RGBA"), np.float32) / 255
    assert np.abs(lifted - whole).max() <= 1 / 255  # the same picture
    assert len(element_groups(svg)) <= 2 < len(element_groups(flat))  # the flag and its outline / its elements


def _bench():
    return load_benchmark("bench_flags")


def test_bench_flags_halves_are_fixed_disjoint_and_cover_the_set() -> None:
    bench = _bench()
    stems = [f"s{i:02d}" for i in range(11)]
    a, b = bench.halves(stems, 2818), bench.halves(stems, 2818)
    assert a == b and len(a["validation"]) == 6 and len(a["test"]) == 5
    assert sorted(a["validation"] + a["test"]) == stems
    assert bench.halves(stems, 1) != a


def test_bench_flags_scores_a_set(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bench = _bench()
    folder = tmp_path / "svg"
    folder.mkdir()
    for name in ("u1f1e8_1f1ff.svg", "u1f1ec_1f1f7.svg"):
        shutil.copy(FLAGS / name, folder / name)
    assert bench.main(["--list", "--sets", "flags", "--emoji-dir", str(folder)]) == 0
    listed = capsys.readouterr().out
    assert "flags: 2 split into layers, none drawn in training" in listed
    out = tmp_path / "out"
    argv = ["-o", str(out), "--sets", "flags", "--models", "single-layer", "--size", "64", "--num-layers", "gt",
            "--emoji-dir", str(folder), "--quiet"]
    assert bench.main(argv) == 0
    import csv

    with open(out / "flags" / "gt" / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1 and rows[0]["sample"].startswith("flag-u1f1") and rows[0]["model"] == "single-layer"
    assert bench.main(argv + ["--set-from", str(out / "set.json"), "--split", "test"]) == 0
    assert bench.main(["--list", "--emoji-dir", str(tmp_path / "absent")]) == 2


def _flag_with_rim() -> np.ndarray:
    """(PX, PX, 4): a red field on a transparent canvas, a dark strip along its top edge (the edge of a
    flag under a translucent outline) and a white stripe across it."""
    rgba = np.zeros((PX, PX, 4), np.float32)
    rgba[37:90] = (0.9, 0.1, 0.1, 1.0)
    rgba[37:40] = (0.5, 0.05, 0.05, 1.0)
    rgba[60:75] = (1.0, 1.0, 1.0, 1.0)
    return rgba


def test_canvas_background_gives_a_rim_the_paint_it_borders() -> None:
    graph = region_graph(_flag_with_rim())
    r = graph.regions
    n = r.count
    _, bg = canvas_background(r, np.full((n, n), 0.5), np.zeros(n))
    rim, red, white = r.labels[38, 60], r.labels[50, 60], r.labels[66, 60]
    assert len({rim, red, white}) == 3
    assert bg[rim] == bg[red] == 1.0 and bg[white] == 0.0  # the strip joins the field's paint
    _, plain = canvas_background(r, np.full((n, n), 0.5), np.zeros(n), rim_width=0.0)
    assert plain[rim] == 0.0  # without the rim rule it is a paint of its own
    inset = _flag_with_rim()
    inset[:, :10] = inset[:, 118:] = 0.0  # a drawing inside the canvas (an emoji): left to the pair model
    r = region_graph(inset).regions
    same, bg = np.full((r.count, r.count), 0.5), np.zeros(r.count)
    assert canvas_background(r, same, bg) == (same, bg)
    assert not transparent_canvas(inset[..., 3])


def test_cut_under_layers_keeps_what_the_bottom_layer_encloses() -> None:
    image = _flag_with_rim()
    image[38:40] = image[41]  # no rim here
    bottom = np.zeros_like(image)
    bottom[37:90] = (0.9, 0.1, 0.1, 1.0)  # the field, whole under the stripe and the dot
    stripe = np.zeros_like(image)
    stripe[60:75] = (1.0, 1.0, 1.0, 1.0)
    dot = np.zeros_like(image)
    dot[44:50, 60:66] = (0.1, 0.1, 0.9, 1.0)  # inside the field
    image[44:50, 60:66] = dot[44:50, 60:66]
    stack = np.stack([bottom, stripe, dot])  # (3, PX, PX, 4)
    out = cut_under_layers(stack, image)
    assert (out[0, 60:75, ..., 3] == 0).all()  # not enclosed by the field's visible pixels: cut
    assert (out[0, 44:50, 60:66, 3] == 1).all()  # enclosed: the field continues under the dot
    assert np.array_equal(out[1:], stack[1:]) and (out[0, 37:60, ..., 3] == stack[0, 37:60, ..., 3]).all()
    from layerdiff.blend import over

    assert np.allclose(over(over(out[0], out[1]), out[2]), over(over(stack[0], stack[1]), stack[2]))
    opaque = image.copy()
    opaque[..., 3] = 1.0
    assert cut_under_layers(stack, opaque) is stack  # no transparent canvas: unchanged
    assert not transparent_canvas(opaque[..., 3]) and transparent_canvas(image[..., 3])
