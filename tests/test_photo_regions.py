"""Photographs in a design (issue #28 items 2d and 3): a photo placed in a design comes back as one layer
with the flat elements over it separate, a photo filling the canvas comes back as the background under
its sticker, and what the elements hid of the photo is inpainted with texture, not smeared."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from layerdiff.completion import complete_stack
from layerdiff.regions.config import RegionConfig
from layerdiff.regions.graph import region_graph
from layerdiff.regions.photo import (
    keep_photos_whole,
    photo_areas,
    photo_cover,
    photo_layers,
    photo_members,
    smooth_residual,
    split_at_outlines,
    textured_pixels,
)

SIZE = 256
PHOTO = (40, 50, 200, 190)  # x0, y0, x1, y1 of the placed photo
DISC = (120, 100, 180, 160)  # the flat disc laid over it


def photo_texture(h: int, w: int, seed: int = 5, grain: float = 2.0, fine: bool = True) -> np.ndarray:
    """(h, w, 3) uint8 photo-like raster: seeded colour noise at three scales (blobs of light and colour,
    detail, and with ``fine`` a fine texture) with per-pixel grain of ``grain`` 8-bit steps, as a
    photograph has."""
    rng = np.random.default_rng(seed)
    out = np.zeros((h, w, 3), np.float32)
    scales = ((5, 0.6), (max(h, w) // 10, 0.3)) + (((max(h, w) // 3, 0.25),) if fine else ())
    for cells, weight in scales:
        noise = Image.fromarray((rng.random((cells, cells, 3)) * 255).astype(np.uint8))
        out += weight * np.asarray(noise.resize((w, h), Image.Resampling.BICUBIC), np.float32)  # (h, w, 3)
    out = (out - out.mean()) * 1.2 + 128.0 + rng.normal(0.0, grain, (h, w, 1))
    return np.clip(out, 0, 255).astype(np.uint8)


def placed_photo() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A light blue design with the photo placed as a rectangle and an orange disc over it: the image
    (SIZE, SIZE, 3) uint8, the photo's visible pixels and the disc's pixels (SIZE, SIZE) bool."""
    img = Image.new("RGB", (SIZE, SIZE), (190, 215, 240))
    x0, y0, x1, y1 = PHOTO
    img.paste(Image.fromarray(photo_texture(y1 - y0, x1 - x0)), (x0, y0))
    ImageDraw.Draw(img).ellipse(DISC, fill=(245, 130, 30))
    disc = Image.new("L", img.size, 0)
    ImageDraw.Draw(disc).ellipse(DISC, fill=255)
    photo = np.zeros((SIZE, SIZE), bool)
    photo[y0:y1, x0:x1] = True
    disc_px = np.asarray(disc) > 0
    return np.asarray(img), photo & ~disc_px, np.asarray(disc) > 250


def photo_with_sticker() -> tuple[np.ndarray, np.ndarray]:
    """A photo filling the canvas with a flat white rounded sticker: the image and the sticker's pixels."""
    img = Image.fromarray(photo_texture(SIZE, SIZE, seed=11, grain=3.0, fine=False))
    ImageDraw.Draw(img).rounded_rectangle([70, 80, 190, 170], 18, fill=(250, 250, 250))
    mask = Image.new("L", img.size, 0)
    ImageDraw.Draw(mask).rounded_rectangle([70, 80, 190, 170], 18, fill=255)
    return np.asarray(img), np.asarray(mask) > 250


@pytest.fixture(scope="module")
def tiny():
    """layerdiff-tiny's region decomposer with the photo step on (``photos=True``, off by default)."""
    from layerdiff.regions.decomposer import RegionLayerDecomposer

    return RegionLayerDecomposer.from_pretrained("layerdiff-tiny", photos=True)


def _shown(stack: np.ndarray) -> np.ndarray:
    """(H, W) index of the layer that shows at each pixel (topmost with alpha > 0.5)."""
    top = np.zeros(stack.shape[1:3], np.int64)
    for k in range(1, len(stack)):
        top[stack[k, ..., 3] > 0.5] = k
    return top


def _stack(result) -> np.ndarray:
    return np.stack([np.asarray(layer.pixels, np.float32) / (255.0 if layer.pixels.dtype == np.uint8 else 1.0)
                     for layer in result.layers])


def test_photo_areas_find_the_placed_photo_and_nothing_in_flat_designs():
    image, photo, disc = placed_photo()
    areas = photo_areas(image / 255.0)
    assert len(areas) == 1 and not areas[0].background
    x0, y0, x1, y1 = PHOTO
    rect = np.zeros((SIZE, SIZE), bool)
    rect[y0:y1, x0:x1] = True
    inter = (areas[0].mask & rect).sum()
    assert inter / (areas[0].mask | rect).sum() > 0.9  # the outline is the photo's rectangle
    flat = np.array(Image.new("RGB", (SIZE, SIZE), (190, 215, 240)))
    ImageDraw.Draw(img := Image.fromarray(flat)).ellipse(DISC, fill=(245, 130, 30))
    ImageDraw.Draw(img).text((20, 20), "FLAT DESIGN", fill=(20, 20, 20))
    assert photo_areas(np.asarray(img) / 255.0) == []
    assert textured_pixels(image / 255.0)[y0 + 10:y1 - 10, x0 + 10:x0 + 60].mean() > 0.9
    assert not textured_pixels(np.asarray(img) / 255.0)[DISC[1] - 20:DISC[3] + 20, DISC[0] - 20:].any()


def test_full_canvas_photo_is_the_background_area():
    image, _ = photo_with_sticker()
    areas = photo_areas(image / 255.0)
    assert len(areas) == 1 and areas[0].background and areas[0].mask.all()


def test_smooth_residual_tells_grain_from_a_gradient():
    t = np.linspace(0.0, 1.0, SIZE)
    gradient = np.stack(np.broadcast_arrays(t[None, :], t[:, None], 0.5 + 0 * t[None, :]), -1)  # (H, W, 3)
    everywhere = np.ones((SIZE, SIZE), bool)
    assert smooth_residual(np.round(gradient * 255) / 255, everywhere) < 0.33 / 255
    grain = np.random.default_rng(3).normal(0.0, 1.5 / 255, (SIZE, SIZE, 1))  # a smooth photo's grain
    assert smooth_residual(np.round((gradient + grain) * 255) / 255, everywhere) > 0.33 / 255


def test_members_keep_the_disc_out_and_relations_make_one_layer():
    image, _, disc = placed_photo()
    rgba = np.concatenate([image / 255.0, np.ones((SIZE, SIZE, 1))], -1).astype(np.float32)
    graph = region_graph(rgba, RegionConfig())
    areas = photo_areas(rgba)
    graph = split_at_outlines(graph, areas) or graph
    member = photo_members(graph, areas)  # (n,)
    labels = graph.regions.labels
    assert (member[labels][disc] < 0).mean() > 0.95  # the disc is an element over the photo
    x0, y0, x1, y1 = PHOTO
    inner = np.zeros((SIZE, SIZE), bool)
    inner[y0 + 3:y1 - 3, x0 + 3:x1 - 3] = True
    assert (member[labels][inner & ~disc] == 0).mean() > 0.95
    n = graph.count
    largest = graph.regions.area == graph.regions.area.max()
    same, above, bg = np.full((n, n), 0.2), np.full((n, n), 0.3), np.where(largest, 0.9, 0.1)
    s2, _, b2 = keep_photos_whole(same, above, bg, member, areas, graph)
    mine = np.nonzero(member == 0)[0]
    assert (s2[np.ix_(mine, mine)] == 1.0).all() and (b2[mine] == 0.0).all()
    assert same[0, 1] == 0.2  # the inputs are not changed


def test_placed_photo_is_one_layer_under_the_disc(tiny):
    image, photo, disc = placed_photo()
    stack = _stack(tiny.decompose(Image.fromarray(image)))
    shown = _shown(stack)
    layers, counts = np.unique(shown[photo], return_counts=True)
    k = int(layers[np.argmax(counts)])
    assert k > 0 and counts.max() / photo.sum() > 0.97  # one layer, not the background, holds the photo
    assert (shown[disc] > k).mean() > 0.95  # the disc is a layer above it
    assert (shown[~photo & ~disc] == 0).mean() > 0.97  # the design's background stays the background
    hidden = disc & (stack[k, ..., 3] > 0.5)
    assert hidden.mean() > 0.8 * disc.mean()  # the photo layer continues under the disc ...
    seen_std = stack[k, ..., :3][photo].std(0).mean()
    assert stack[k, ..., :3][hidden].std(0).mean() > 0.5 * seen_std  # ... with texture, not a smear
    assert np.abs(stack[k, ..., :3][hidden] - np.array([245, 130, 30]) / 255).mean() > 0.15  # no orange copy


def test_a_real_photograph_is_kept_whole_where_the_pair_model_cuts_it(tiny):
    """``skimage.data``'s astronaut (public domain, NASA) placed in a flat design: the pair model alone
    (``photos=False``, the default) cuts it across layers; with the photo step one layer holds it."""
    from skimage.data import astronaut

    from layerdiff.regions.decomposer import RegionLayerDecomposer

    img = Image.new("RGB", (SIZE, SIZE), (120, 60, 70))
    img.paste(Image.fromarray(astronaut()).resize((120, 120), Image.Resampling.LANCZOS), (70, 60))
    image = np.asarray(img)
    photo = np.zeros((SIZE, SIZE), bool)
    photo[60:180, 70:190] = True

    def largest_share(stack: np.ndarray) -> float:
        return np.unique(_shown(stack)[photo], return_counts=True)[1].max() / photo.sum()

    plain = RegionLayerDecomposer.from_pretrained("layerdiff-tiny", photos=False)
    assert largest_share(plain.decompose_stack(image)) < 0.9
    assert largest_share(tiny.decompose_stack(image)) > 0.97


def test_full_canvas_photo_with_sticker_is_background_and_sticker(tiny):
    image, sticker = photo_with_sticker()
    stack = _stack(tiny.decompose(Image.fromarray(image)))
    assert len(stack) == 2
    shown = _shown(stack)
    assert (shown[~sticker] == 0).mean() > 0.98  # the photo is the background, whole
    assert (shown[sticker] == 1).mean() > 0.95  # the sticker is the layer over it
    inner = np.zeros_like(sticker)
    inner[90:160, 80:180] = True
    assert stack[0, ..., :3][inner].std(0).mean() > 0.02  # the photo continues under it with texture


def test_photo_layers_and_cover():
    image, photo, disc = placed_photo()
    areas = photo_areas(image / 255.0)
    own = np.stack([~photo & ~disc, photo, disc])  # (3, H, W)
    flags = photo_layers(own, areas, image=image / 255.0)
    assert flags.tolist() == [False, True, False]
    cover = photo_cover(own, flags, areas)
    assert cover[1][disc].mean() > 0.95 and (cover[0] == own[0]).all() and (cover[2] == own[2]).all()


def test_complete_stack_takes_exemplar_flags_per_layer():
    texture = photo_texture(64, 64) / 255.0
    stack = np.zeros((3, 64, 64, 4), np.float32)
    stack[0, ..., :3], stack[0, ..., 3] = texture, 1.0
    stack[1, 16:48, 16:48, :3], stack[1, 16:48, 16:48, 3] = texture[16:48, 16:48], 1.0
    stack[2, 24:40, 24:40, :3], stack[2, 24:40, 24:40, 3] = (1.0, 0.5, 0.1), 1.0
    _, methods = complete_stack(stack, exemplar=[True, False, False])
    assert methods[0].startswith("patchmatch") and methods[1] == "push-pull"
    _, methods = complete_stack(stack, exemplar=np.array([False, True, False]))
    assert methods[0] == "push-pull" and methods[1].startswith("patchmatch")
    with pytest.raises(ValueError, match="flags for 3 layers"):
        complete_stack(stack, exemplar=[True, False])


def test_bench_photo_scenes_and_scores(tmp_path):
    """bench_photo's scenes are a pure function of (seed, index) and its scores read a perfect answer as
    one whole photo; it runs end to end on two tiny scenes with both settings."""
    import json

    from bench_scripts import load_benchmark

    bench = load_benchmark("bench_photo")
    gt, photo = bench.photo_scene(2718, 1, 96)
    again, _ = bench.photo_scene(2718, 1, 96)
    assert photo == 1 and np.array_equal(gt, again) and gt.shape[1:] == (96, 96, 4)
    assert bench.photo_scene(2718, 0, 96)[1] == 0  # even indices: a photo background
    scores = bench.photo_scores(gt, gt, photo)
    assert scores["l1"] < 1e-6 and scores["photo_iou"] > 0.999 and scores["photo_pieces"] == 1
    out = tmp_path / "p.json"
    summary = bench.main(["--designs", "2", "--size", "96", "--compare", "--json", str(out)])
    assert {"photos=False/all", "photos=True/all"} <= set(summary)
    assert len(json.loads(out.read_text())["rows"]["photos=True"]) == 2
