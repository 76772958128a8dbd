"""Synthetic layered designs, emoji rendering, shards and the training datasets."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from layerdiff.blend import over
from layerdiff.data.datasets import ShardDataset, SyntheticLayerDataset, collate_layers
from layerdiff.data.emoji import emoji_library, emoji_name
from layerdiff.data.shards import ShardRecord, read_shard, record_from_sample, write_shard
from layerdiff.data.synth_elements import render_element
from layerdiff.data.synth_raster import composite_stack, coverage, shape_sdf
from layerdiff.data.synth_vocab import COLOR_JITTER, COLORS, SHAPES
from layerdiff.data.synthetic import SyntheticDesigns, referring_sample
from layerdiff.errors import LayeredFileError
from layerdiff.layered import Layer, LayeredImage

SIZE = 64


@pytest.fixture(scope="module")
def designs() -> SyntheticDesigns:
    return SyntheticDesigns(seed=7, size=SIZE, min_layers=1, max_layers=6)


@pytest.fixture(scope="module")
def samples(designs: SyntheticDesigns) -> list:
    return [designs.sample(i) for i in range(16)]


def test_same_seed_and_index_give_identical_samples(designs: SyntheticDesigns) -> None:
    again = SyntheticDesigns(seed=7, size=SIZE, min_layers=1, max_layers=6)
    for index in (0, 5, 11):
        a, b = designs.sample(index), again.sample(index)
        assert np.array_equal(a.stack(), b.stack())
        assert np.array_equal(a.composite, b.composite)
        assert a.caption == b.caption and a.layer_captions == b.layer_captions and a.boxes == b.boxes


def test_different_index_or_seed_gives_different_samples(designs: SyntheticDesigns) -> None:
    other_seed = SyntheticDesigns(seed=8, size=SIZE, min_layers=1, max_layers=6)
    base = designs.sample(3)
    assert not np.array_equal(base.composite, designs.sample(4).composite)
    assert not np.array_equal(base.composite, other_seed.sample(3).composite)


def test_layers_composite_to_the_stored_composite(samples: list) -> None:
    for s in samples:
        assert s.composite.shape == (SIZE, SIZE, 4)
        assert np.abs(s.composite - s.layers.composite()).max() < 1e-6
        assert s.kinds[0] == "background" and np.all(s.stack()[0, ..., 3] == 1.0)
        assert len(s.layers) == len(s.layer_captions) == len(s.boxes) == len(s.kinds) == len(s.colors)
        assert all(layer.pixels.shape == (SIZE, SIZE, 4) for layer in s.layers)


def test_layer_counts_stay_within_bounds() -> None:
    gen = SyntheticDesigns(seed=1, size=SIZE, min_layers=2, max_layers=4)
    counts = [len(gen.sample(i)) for i in range(30)]
    assert min(counts) == 2 and max(counts) == 4


def test_captions_name_the_colour_and_shape_that_is_drawn() -> None:
    gen = SyntheticDesigns(seed=3, size=SIZE, min_layers=3, max_layers=3, kind_weights={"shape": 1.0})
    checked = 0
    for i in range(12):
        s = gen.sample(i)
        for k in range(1, len(s)):
            color, shape = s.colors[k], s.shapes[k]
            assert color in COLORS and shape in SHAPES
            assert f"{color} {shape}" in s.layer_captions[k] and s.layer_captions[k] in s.caption
            if "outline" in s.layer_captions[k]:
                continue
            px = s.layers[k].pixels
            core = px[..., 3] > 0.99
            rgb = np.median(px[core][:, :3], axis=0) * 255
            assert np.abs(rgb - np.asarray(COLORS[color])).max() <= COLOR_JITTER + 1
            checked += 1
    assert checked >= 10


def test_shapes_are_antialiased_and_sized() -> None:
    d = shape_sdf("circle", 64, 32.0, 32.0, 40.0, 40.0)
    a = coverage(d)
    assert a[32, 32] == 1.0 and a[0, 0] == 0.0
    assert 0 < np.count_nonzero((a > 0) & (a < 1)) < 400  # a thin anti-aliased rim
    assert abs(a.sum() - np.pi * 20 ** 2) < 2.0  # area of the disk
    for shape in SHAPES:
        assert coverage(shape_sdf(shape, 64, 32, 32, 30, 24, 0.2, 6)).sum() > 50


def test_shadow_lives_in_its_object_layer_under_the_object(designs: SyntheticDesigns) -> None:
    found = 0
    for i in range(200):
        design = designs.design(i)
        for spec in design["elements"]:
            fx = spec.get("effect")
            if not fx or fx["type"] != "shadow" or spec["type"] != "shape":
                continue
            with_shadow = render_element(spec, SIZE, designs.emoji)
            bare = copy.deepcopy(spec)
            bare["effect"] = None
            plain = render_element(bare, SIZE, designs.emoji)
            halo = (plain[..., 3] == 0) & (with_shadow[..., 3] > 0.02)  # shadow pixels outside the object
            assert halo.any()
            assert np.all(with_shadow[..., 3] >= plain[..., 3] - 1e-6)
            assert with_shadow[halo, 3].max() < 1.0  # partial alpha
            assert with_shadow[halo][:, :3].max() < 0.05  # dark
            solid_obj = plain[..., 3] > 0.999
            assert np.allclose(with_shadow[solid_obj], plain[solid_obj], atol=1e-5)  # object on top
            found += 1
            break
        if found >= 3:
            break
    assert found >= 3


def test_placement_avoids_overlap_unless_allowed() -> None:
    def disjoint_fraction(overlap_prob: float) -> float:
        gen = SyntheticDesigns(seed=9, size=SIZE, min_layers=4, max_layers=4, overlap_prob=overlap_prob,
                               kind_weights={"shape": 1.0})
        ok = 0
        for i in range(20):
            boxes = [(e["center"][0] - e["size"][0] / 2, e["center"][1] - e["size"][1] / 2,
                      e["center"][0] + e["size"][0] / 2, e["center"][1] + e["size"][1] / 2)
                     for e in gen.design(i)["elements"]]
            assert all(0 <= b[0] and b[2] <= 1 and 0 <= b[1] and b[3] <= 1 for b in boxes)
            ok += all(a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
                      for j, a in enumerate(boxes) for b in boxes[j + 1:])
        return ok / 20

    assert disjoint_fraction(0.0) >= 0.9
    assert disjoint_fraction(1.0) < 0.9


def test_render_size_renders_the_same_design(designs: SyntheticDesigns) -> None:
    small, big = designs.sample(2), designs.sample(2, render_size=2 * SIZE)
    assert big.composite.shape == (2 * SIZE, 2 * SIZE, 4)
    assert small.caption == big.caption and len(small) == len(big)
    for a, b in zip(small.boxes, big.boxes):
        assert (a is None) == (b is None)
        if a is not None:
            assert np.abs(np.subtract(a, b)).max() <= 3.0 / SIZE


@pytest.mark.parametrize("prompt_type", ["point", "box", "mask", "phrase"])
def test_referring_samples_recompose_the_image(designs: SyntheticDesigns, prompt_type: str) -> None:
    rng = np.random.default_rng(0)
    done = 0
    for i in range(20):
        s = designs.sample(i)
        if len(s) < 2:
            continue
        r = referring_sample(s, rng, prompt_type)
        k = r["target_index"]
        assert r["prompt_type"] == prompt_type and k >= 1
        assert np.array_equal(r["target"], s.stack()[k])
        assert np.abs(over(over(r["below"], r["target"]), r["above"]) - r["image"]).max() < 1e-5
        if not r["occluded"]:
            assert np.abs(over(r["background"], r["target"]) - r["image"]).max() < 1e-5
        x, y = r["point"]
        assert r["target"][int(y * SIZE), int(x * SIZE), 3] > 0
        assert np.all(r["target"][r["mask"], 3] > 0.5)
        assert r["box"] == s.boxes[k] and r["phrase"] == s.layer_captions[k]
        assert r["prompt"] is r[prompt_type]
        done += 1
    assert done >= 5


def test_referring_sample_needs_a_foreground_layer() -> None:
    gen = SyntheticDesigns(seed=0, size=32, min_layers=1, max_layers=1)
    with pytest.raises(ValueError, match="no foreground layer"):
        referring_sample(gen.sample(0), np.random.default_rng(0))


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="min_layers"):
        SyntheticDesigns(0, min_layers=3, max_layers=2)
    with pytest.raises(ValueError, match="unknown element kinds"):
        SyntheticDesigns(0, kind_weights={"blob": 1.0})
    with pytest.raises(ValueError, match="index"):
        SyntheticDesigns(0).sample(-1)


def test_emoji_render_and_parts_composite_back() -> None:
    lib = emoji_library()
    assert lib is not None and len(lib) >= 10  # 14 in tests/data/emoji, 860 in the full Noto library
    assert emoji_name("u1f600") == "grinning face" and emoji_name("u1f1fa_1f1f8") == "flag of US"
    whole = lib.render("u1f600", 48)
    assert whole.shape == (48, 48, 4) and whole[..., 3].max() == 1.0 and whole[0, 0, 3] == 0.0
    parts = lib.render_parts("u1f600", 64)  # at a cache bucket size: no resampling
    assert parts is not None and len(parts) == 2
    assert parts[0][..., 3].sum() > parts[1][..., 3].sum()  # the face is the base
    assert np.abs(over(parts[0], parts[1])[..., 3] - lib.render("u1f600", 64)[..., 3]).max() < 2.5 / 255
    resized = lib.render_parts("u1f600", 48)  # resampled parts differ only along shared edges
    assert np.abs(over(resized[0], resized[1])[..., 3] - whole[..., 3]).mean() < 0.01


def test_text_kind_uses_fonts_and_shows_up() -> None:
    gen = SyntheticDesigns(seed=2, size=SIZE, min_layers=2, max_layers=2, kind_weights={"text": 1.0})
    s = gen.sample(0)
    assert s.kinds == ["background", "text"] and 'the text "' in s.layer_captions[1]
    assert s.layers[1].pixels[..., 3].max() > 0.9


def test_synthetic_dataset_shapes_and_padding() -> None:
    ds = SyntheticLayerDataset(seed=0, size=32, max_layers=6, length=4, min_layers=1)
    item = ds[1]
    n = item["num_layers"]
    assert item["layers"].shape == (6, 4, 32, 32) and item["layers"].dtype == torch.float32
    assert item["composite"].shape == (4, 32, 32) and item["boxes"].shape == (6, 4)
    assert torch.all(item["layers"][n:] == 0) and torch.all(item["boxes"][n:] == 0)
    assert torch.all(item["boxes"][0] == torch.tensor([0.0, 0.0, 1.0, 1.0]))
    assert len(item["layer_captions"]) == n and isinstance(item["caption"], str)
    stack = item["layers"][:n].permute(0, 2, 3, 1).numpy()
    assert np.abs(composite_stack(stack) - item["composite"].permute(1, 2, 0).numpy()).max() < 1e-6
    assert len(list(ds)) == 4


def test_dataloader_batches_are_contiguous_across_workers_and_ranks() -> None:
    seen = []
    for rank in range(2):
        ds = SyntheticLayerDataset(seed=0, size=16, max_layers=3, length=24, batch_size=2, rank=rank,
                                   world_size=2, emoji=False, photos=False)
        loader = DataLoader(ds, batch_size=2, num_workers=2, collate_fn=collate_layers)
        batches = [b["index"].tolist() for b in loader]
        assert batches == [[4 * n + 2 * rank, 4 * n + 2 * rank + 1] for n in range(6)]
        assert len(ds) == 12
        seen += [i for b in batches for i in b]
    assert sorted(seen) == list(range(24))


def test_resumed_stream_continues_exactly() -> None:
    kw = dict(seed=5, size=16, max_layers=3, batch_size=3, world_size=1, emoji=False, photos=False)
    full = [item["index"] for item in SyntheticLayerDataset(length=12, **kw)]
    tail = SyntheticLayerDataset(length=12, start_index=6, **kw)
    assert [item["index"] for item in tail] == full[6:] and len(tail) == 6
    a = next(iter(tail))
    assert torch.equal(a["layers"], SyntheticLayerDataset(length=12, **kw)[6]["layers"])


def test_collate_layers_stacks_tensors_and_keeps_lists() -> None:
    ds = SyntheticLayerDataset(seed=0, size=16, max_layers=4, emoji=False)
    batch = collate_layers([ds[0], ds[1], ds[2]])
    assert batch["layers"].shape == (3, 4, 4, 16, 16) and batch["num_layers"].dtype == torch.long
    assert len(batch["caption"]) == 3 and isinstance(batch["layer_captions"][0], list)
    with pytest.raises(ValueError):
        collate_layers([])


def test_shards_roundtrip_and_reject_bad_files(tmp_path, designs: SyntheticDesigns) -> None:
    sample = designs.sample(1)
    path = write_shard(tmp_path / "a.npz", record_from_sample(sample))
    back = read_shard(path)
    assert np.array_equal(back.layers, np.round(sample.stack() * 255).astype(np.uint8))
    assert back.caption == sample.caption and back.layer_captions == sample.layer_captions
    assert back.kinds == sample.kinds and back.source == "synthetic:7:1"
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(LayeredFileError, match="bad.npz"):
        read_shard(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="captions"):
        ShardRecord(layers=back.layers, caption="x", layer_captions=["only one"] * (back.num_layers + 1))


def test_shard_dataset_fits_size_and_caps_layers(tmp_path) -> None:
    gen = SyntheticDesigns(seed=4, size=SIZE, min_layers=5, max_layers=5, emoji=False)
    for i in range(2):
        write_shard(tmp_path / f"s{i}.npz", record_from_sample(gen.sample(i)))
    stack = np.zeros((3, 20, 40, 4), np.float32)
    stack[0] = 1.0
    stack[1, 5:15, 5:15] = (1, 0, 0, 1)
    stack[2, 5:15, 25:35] = (0, 0, 1, 1)
    record = ShardRecord(layers=np.round(stack * 255).astype(np.uint8), caption="wide",
                         layer_captions=["bg", "red", "blue"])
    write_shard(tmp_path / "wide.npz", record)
    ds = ShardDataset(tmp_path, size=32, max_layers=3)
    assert len(ds) == 3
    item = ds[0]
    assert item["layers"].shape == (3, 4, 32, 32) and item["num_layers"] == 3
    assert any(" + " in c for c in item["layer_captions"])  # 5 layers merged down to 3
    wide = ds[2]
    assert wide["num_layers"] == 3 and wide["layer_captions"] == ["bg", "red", "blue"]
    alpha = wide["composite"][3]
    assert alpha[0, 16] == 0 and alpha[16, 16] == 1  # letterboxed: transparent bands top and bottom
    cropped = ShardDataset(tmp_path, size=32, max_layers=3, fit="crop")[2]
    assert torch.all(cropped["composite"][3] == 1)


def test_layered_image_from_sample_is_plain() -> None:
    s = SyntheticDesigns(seed=0, size=32, emoji=False).sample(0)
    assert isinstance(s.layers, LayeredImage) and all(isinstance(x, Layer) for x in s.layers)
    assert all(layer.blend_mode == "normal" and layer.offset == (0, 0) for layer in s.layers)


def test_adjusted_photos_are_opt_in_and_flatten_parts_of_the_photo():
    from layerdiff.data.synth_backgrounds import adjust_photo
    from layerdiff.data.synthetic import SyntheticDesigns

    plain = SyntheticDesigns(seed=5, size=64, min_layers=2, max_layers=3)
    same = SyntheticDesigns(seed=5, size=64, min_layers=2, max_layers=3, adjusted_photos=0.0)
    np.testing.assert_array_equal(plain.sample(2).composite, same.sample(2).composite)  # streams unchanged
    adjusted = SyntheticDesigns(seed=5, size=64, min_layers=2, max_layers=3, adjusted_photos=1.0)
    for i in range(4):
        spec = adjusted.design(i)["background"]
        assert spec["type"] == "photo" and 1 <= len(spec["adjust"]) <= 4
        assert adjusted.sample(i).layers[0].pixels[..., 3].min() == 1.0
    with pytest.raises(ValueError, match="adjusted_photos"):
        SyntheticDesigns(seed=5, adjusted_photos=-0.1)

    ramp = np.repeat(np.linspace(0, 1, 50, dtype=np.float32)[None, :, None], 3, axis=2)  # (1, 50, 3)
    base = {"gain": 2.0, "gamma": 2.0, "black": 0.2, "white": 0.8, "levels": 3, "cut": 0.5, "tint": (1, 0, 0)}
    exposed = adjust_photo(ramp, {**base, "kind": "exposure"})
    assert (exposed == 1.0).mean() > 0.45  # the upper half clips to one flat white
    assert len(np.unique(adjust_photo(ramp, {**base, "kind": "posterize"}))) == 3
    np.testing.assert_array_equal(np.unique(adjust_photo(ramp, {**base, "kind": "threshold"})), [0.0, 1.0])
    levels = adjust_photo(ramp, {**base, "kind": "levels"})
    assert levels[0, 0, 0] == 0.0 and levels[0, -1, 0] == 1.0 and (levels == 0).sum() > 3
    np.testing.assert_allclose(adjust_photo(ramp, {**base, "kind": "curves"}), ramp ** 2, atol=1e-6)
    np.testing.assert_allclose(adjust_photo(ramp, {**base, "kind": "invert"}), 1 - ramp)
    tinted = adjust_photo(ramp, {**base, "kind": "colorize"})
    assert tinted[..., 1:].max() == 0.0 and tinted[..., 0].max() == 1.0
