"""8- and 16-bit layers keep their integer samples (issue 27 item 3): Layer storage, what works on it
without converting, the readers handing their arrays over unchanged and the writers using them
directly - with every result identical to the float path."""

from __future__ import annotations

import copy
import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from layerdiff.cli.info import describe
from layerdiff.io import load, save
from layerdiff.io.encode import EncodedStack, encode_png
from layerdiff.layered import Layer, LayeredImage, from_float, to_float


def random_rgba(h: int, w: int, dtype: type = np.uint8, seed: int = 0) -> np.ndarray:
    """(h, w, 4) integer samples with fully transparent, partly transparent and opaque pixels."""
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max
    a = rng.integers(0, top + 1, (h, w, 4)).astype(dtype)
    a[: h // 3, :, 3] = 0
    a[h // 3 : 2 * h // 3, :, 3] = top
    return a


def float_twin(image: LayeredImage) -> LayeredImage:
    """A copy of ``image`` whose layers are all converted to float (what every layer was before)."""
    twin = image.copy()
    for layer in twin.layers:
        _ = layer.pixels
        assert layer.native is None
    return twin


# ------------------------------------------------------------------------------ storage
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_integer_input_is_kept_native_until_pixels_is_used(dtype: type) -> None:
    samples = random_rgba(5, 7, dtype)
    layer = Layer(samples)
    assert layer.native is not None and layer.native.dtype == dtype
    assert layer.native_bit_depth == (8 if dtype == np.uint8 else 16)
    assert layer.nbytes == 5 * 7 * 4 * np.dtype(dtype).itemsize
    assert (layer.width, layer.height, layer.bbox) == (7, 5, (0, 0, 7, 5))
    px = layer.pixels
    assert px.dtype == np.float32 and np.array_equal(px, to_float(samples))
    assert layer.native is None and layer.nbytes == 5 * 7 * 16  # converted once, the integer copy dropped
    assert layer.pixels is px


def test_integer_input_with_fewer_channels_expands_like_float() -> None:
    grey = np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000  # (3, 4)
    rgb = random_rgba(3, 4)[..., :3]
    grey_alpha = random_rgba(3, 4)[..., :2]
    for samples in (grey, rgb, grey_alpha):
        layer = Layer(samples)
        assert layer.native is not None and layer.native.shape == (3, 4, 4)
        assert np.array_equal(layer.pixels, to_float(samples))


def test_writeable_input_is_copied_frozen_input_is_shared() -> None:
    samples = random_rgba(4, 4)
    layer = Layer(samples)
    samples[:] = 0  # the caller's array changes; the layer's samples do not
    assert layer.native.any() and not layer.native.flags.writeable
    frozen = random_rgba(4, 4)
    frozen.flags.writeable = False
    a, b = Layer(frozen), Layer(frozen)
    assert a.native is frozen and b.native is frozen
    view = np.asarray(random_rgba(4, 4))  # a read-only view of a writeable array is not safe to share
    ro = view.view()
    ro.flags.writeable = False
    assert Layer(ro).native is not ro


def test_float_mutation_through_pixels_is_what_is_written() -> None:
    layer = Layer(random_rgba(6, 6))
    layer.pixels[..., 0] = 1.0  # in place, on the float view
    assert layer.native is None
    assert np.array_equal(layer.array(8)[..., 0], np.full((6, 6), 255, np.uint8))
    image = LayeredImage((6, 6), [layer])
    assert np.array_equal(EncodedStack(image).layer_array(0, 8)[..., 0], np.full((6, 6), 255, np.uint8))


def test_assigning_pixels_keeps_integers_native_and_floats_as_given() -> None:
    layer = Layer(np.zeros((2, 2, 4), np.float32))
    samples = random_rgba(3, 3)
    layer.pixels = samples
    assert layer.native is not None and np.array_equal(layer.native, samples)
    floats = np.full((2, 2, 4), 0.5, np.float32)
    layer.pixels = floats
    assert layer.native is None and layer.pixels is floats


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_array_gives_native_samples_unconverted_and_other_depths_as_from_float(dtype: type) -> None:
    samples = random_rgba(9, 5, dtype, seed=3)
    layer = Layer(samples)
    own = 8 if dtype == np.uint8 else 16
    other = 24 - own
    assert layer.array(own) is layer.native
    assert np.array_equal(layer.array(other), from_float(to_float(samples), other))
    assert layer.native is not None  # neither converted the layer
    floats = Layer(to_float(samples))
    for depth in (8, 16):
        assert np.array_equal(floats.array(depth), from_float(floats.pixels, depth))
    assert np.array_equal(floats.array(own), samples)  # 8/16-bit -> float -> 8/16-bit is exact
    with pytest.raises(ValueError, match="bit_depth"):
        layer.array(12)


def test_array_in_bands_matches_from_float(monkeypatch: pytest.MonkeyPatch) -> None:
    import layerdiff.layered as layered

    monkeypatch.setattr(layered, "_CONVERT_BAND_PIXELS", 7)  # many bands, a ragged last one
    samples = random_rgba(11, 3, np.uint16, seed=5)
    assert np.array_equal(Layer(samples).array(8), from_float(to_float(samples), 8))
    floats = np.random.default_rng(2).uniform(-0.2, 1.2, (11, 3, 4)).astype(np.float32)
    layer = Layer(np.zeros((1, 1, 4), np.float32))
    layer.pixels = floats  # unclipped, as assigned
    assert np.array_equal(layer.array(16), from_float(floats, 16))


# ------------------------------------------------------------------------------ the same answers as float
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_geometry_and_compositing_on_native_match_float(dtype: type) -> None:
    top = np.iinfo(dtype).max
    bottom = random_rgba(16, 20, dtype, seed=1)
    upper = np.zeros((9, 6, 4), dtype)
    upper[2:7, 1:4] = random_rgba(5, 3, dtype, seed=2)
    upper[2:7, 1:4, 3] = np.arange(15, dtype=np.int64).reshape(5, 3) * (top // 20) + 1
    image = LayeredImage((20, 16), [Layer(bottom, name="b"), Layer(upper, name="u", offset=(15, -2), opacity=0.7,
                                                                      blend_mode="multiply")])
    twin = float_twin(image)
    for threshold in (0.0, 0.3, 0.5, np.float64(1 / 3), np.float32(0.7), 1.0, -1.0):
        for layer, ref in zip(image.layers, twin.layers):
            assert layer.content_bbox(threshold) == ref.content_bbox(threshold)
            assert layer.is_empty(threshold) == ref.is_empty(threshold)
    for layer, ref in zip(image.layers, twin.layers):
        assert np.array_equal(layer.on_canvas(image.size), ref.on_canvas(twin.size))
    assert np.array_equal(image.composite(), twin.composite())
    assert np.array_equal(image.to_numpy(), twin.to_numpy())
    assert all(layer.native is not None for layer in image.layers)  # none of it converted a layer
    cropped, cropped_twin = image.copy().crop_to_content(0.5), twin.copy().crop_to_content(0.5)
    for layer, ref in zip(cropped.layers, cropped_twin.layers):
        assert layer.native is not None and layer.bbox == ref.bbox
        assert np.array_equal(layer.pixels, ref.pixels)


def test_empty_native_layer_crops_to_one_transparent_pixel() -> None:
    image = LayeredImage((4, 4), [Layer(np.zeros((4, 4, 4), np.uint8))]).crop_to_content()
    layer = image.layers[0]
    assert layer.native is not None and layer.native.shape == (1, 1, 4) and not layer.native.any()


def test_copies_share_native_samples_and_convert_on_their_own() -> None:
    layer = Layer(random_rgba(4, 5), metadata={"group": ["g"]})
    twin = layer.copy()
    assert twin.native is layer.native and twin.metadata is not layer.metadata
    twin.pixels[...] = 0.0
    assert layer.native is not None and layer.native.any()
    again = copy.deepcopy(LayeredImage((5, 4), [layer]))
    assert again.layers[0].native is layer.native
    back = pickle.loads(pickle.dumps(layer))
    assert np.array_equal(back.native, layer.native) and not back.native.flags.writeable


# ------------------------------------------------------------------------------ readers and writers
def png_bytes(array: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, format="PNG")
    return buf.getvalue()


def test_png_reader_keeps_8_bit_samples_through_info_and_writers(tmp_path: Path) -> None:
    rgb = random_rgba(30, 40)[..., :3]
    bw = (np.indices((30, 40)).sum(axis=0) % 3 == 0)
    (tmp_path / "rgb.png").write_bytes(png_bytes(rgb))
    Image.fromarray(bw).convert("1").save(tmp_path / "bw.png")
    for name, expected in (("rgb", np.asarray(Image.fromarray(rgb).convert("RGBA"))),
                           ("bw", np.asarray(Image.fromarray(bw).convert("1").convert("RGBA")))):
        image = load(tmp_path / f"{name}.png")
        layer = image.layers[0]
        assert layer.native is not None and layer.native.dtype == np.uint8
        assert layer.nbytes == 30 * 40 * 4
        assert np.array_equal(layer.native, expected)
        describe(image)  # what `layerdiff info` prints
        twin = float_twin(image)
        for fmt in ("psd", "ora", "zip", "png-dir", "svg"):
            a = save(image, tmp_path / f"{name}_native.{fmt}", format=fmt, run="r1")
            b = save(twin, tmp_path / f"{name}_float.{fmt}", format=fmt, run="r1")
            if fmt in ("psd", "svg"):
                assert a.read_bytes() == b.read_bytes(), fmt
            if fmt != "svg":
                assert np.array_equal(load(a).composite(), load(b).composite()), fmt
        assert layer.native is not None  # writing used the samples as they are
        assert EncodedStack(image).layer_array(0, 8) is layer.native
        assert encode_png(EncodedStack(image).layer_array(0, 8)) == encode_png(expected)


def test_sixteen_bit_png_and_zip_stack_layers_stay_uint16_and_share_a_member(tmp_path: Path) -> None:
    from layerdiff.io.encode import encode_png16

    deep = random_rgba(6, 8, np.uint16, seed=9)
    entries = [{"file": "a.png", "name": f"n{i}"} for i in range(5)]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("manifest.json", json.dumps({"format": "layerdiff-png-stack", "bit_depth": 16,
                                                 "canvas": {"width": 8, "height": 6}, "layers": entries}))
        zf.writestr("a.png", encode_png16(deep))
    (tmp_path / "stack.zip").write_bytes(buf.getvalue())
    image = load(tmp_path / "stack.zip")
    assert image.bit_depth == 16
    natives = [layer.native for layer in image.layers]
    assert all(n is not None and n.dtype == np.uint16 for n in natives)
    assert all(n is natives[0] for n in natives)  # one decoded member, shared (read-only)
    assert np.array_equal(natives[0], deep)
    image.layers[0].pixels[...] = 0.0  # converting one layer leaves the others' samples alone
    assert np.array_equal(image.layers[1].native, deep)
    (tmp_path / "deep.png").write_bytes(encode_png16(deep))
    flat = load(tmp_path / "deep.png")
    assert flat.layers[0].native.dtype == np.uint16 and np.array_equal(flat.layers[0].native, deep)
    assert EncodedStack(flat).layer_array(0, 16) is flat.layers[0].native


def test_from_pil_keeps_integer_samples() -> None:
    rgba = random_rgba(4, 6)
    image = LayeredImage.from_pil([Image.fromarray(rgba, "RGBA"), Image.fromarray(rgba[..., :3], "RGB")])
    assert [layer.native.dtype for layer in image.layers] == [np.uint8, np.uint8]
    assert np.array_equal(image.layers[0].native, rgba)


def test_banded_rgba_conversion_matches_pillow(monkeypatch: pytest.MonkeyPatch) -> None:
    import layerdiff.io.images as images

    monkeypatch.setattr(images, "_BAND_PIXELS", 50)  # many bands, a ragged last one
    base = Image.fromarray(random_rgba(23, 17)[..., :3])
    paletted = base.convert("P")
    paletted.info["transparency"] = 3
    for im in (base, base.convert("L"), base.convert("1"), base.convert("LA"), base.convert("CMYK"),
               base.convert("RGBA"), base.convert("P"), paletted):
        assert np.array_equal(images._rgba8(im), np.asarray(im.convert("RGBA"))), im.mode


# ------------------------------------------------------------------------------ the composite in bands
def banded_stack() -> LayeredImage:
    rng = np.random.default_rng(11)
    under = random_rgba(21, 13, seed=4)
    over_ = rng.uniform(0, 1, (8, 9, 4)).astype(np.float32)  # float layer sticking out of the canvas
    over_[:2, :, 3] = 0.0
    deep = random_rgba(5, 30, np.uint16, seed=6)
    return LayeredImage((13, 21), [Layer(under, name="u"), Layer(over_, offset=(7, -3), blend_mode="screen",
                                                                      opacity=0.6),
                                   Layer(deep, offset=(-4, 12), blend_mode="multiply"),
                                   Layer(random_rgba(3, 3, seed=8), offset=(2, 2), visible=False)])


def test_composite_rows_are_the_rows_of_the_whole_composite() -> None:
    image = banded_stack()
    for kwargs in ({}, {"include_hidden": True}, {"background": (0.2, 0.4, 0.6)}):
        whole = image.composite(**kwargs)
        for first, last in ((0, 21), (0, 1), (3, 11), (12, 17), (20, 21), (2, 14)):
            assert np.array_equal(image.composite(rows=(first, last), **kwargs), whole[first:last]), (kwargs, first)
    for bad in ((5, 5), (-1, 3), (0, 22)):
        with pytest.raises(ValueError, match="rows"):
            image.composite(rows=bad)


@pytest.mark.parametrize("depth", [8, 16])
def test_banded_writers_give_the_bytes_of_the_whole_composite(depth: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from psd_tools import PSDImage
    from psd_tools.api.numpy_io import encode_image_data
    from psd_tools.constants import Compression

    import layerdiff.io.encode as encode
    from layerdiff.io.psd import merged_image_data

    image = banded_stack()
    image.bit_depth = depth
    monkeypatch.setattr(encode, "COMPOSITE_BAND_PIXELS", 40)  # bands of 3 rows, a ragged last one
    whole = image.composite()
    banded = EncodedStack(image)
    psd = PSDImage.new("RGBA", image.size, color=0, depth=depth, compression=Compression.RLE)
    psd.create_pixel_layer(Image.new("RGBA", image.size), name="x")
    psd._record._get_layer_info().layer_count = -1  # the composite's transparency, as write_psd_to marks it
    psd._merged_alpha = True
    expected = b"".join(encode_image_data(psd, whole[..., :3], whole[..., 3:4]))
    assert merged_image_data(psd, banded) == expected
    assert psd._record.header.height == 21
    for d in (8, 16):
        assert np.array_equal(banded.composite_array(d), from_float(whole, d))
    assert banded._composite is None  # the whole float composite was never made
    assert encode.EncodedStack(image).composite_png() == encode_png(from_float(whole, image.bit_depth))


def test_psd_without_layers_holds_its_merged_image_as_uint8(tmp_path: Path) -> None:
    from psd_tools import PSDImage

    rgba = random_rgba(6, 8, seed=16)
    PSDImage.frompil(Image.fromarray(rgba, "RGBA")).save(tmp_path / "flat.psd")
    image = load(tmp_path / "flat.psd")
    assert image.metadata.get("merged_only") and len(image) == 1
    layer = image.layers[0]
    assert layer.native is not None and layer.native.dtype == np.uint8
    merged = np.asarray(PSDImage.open(tmp_path / "flat.psd").composite().convert("RGBA"))
    expected = merged.astype(np.float32) / 255.0  # what the reader held before: float, canonical colour
    expected[..., :3] *= expected[..., 3:4] > 0
    assert np.array_equal(layer.pixels.view(np.uint32), expected.view(np.uint32))


def test_region_decomposer_hands_back_uint8_layers_with_the_same_values():
    """The region decomposer's exact recomposition leaves every sample on the 8-bit grid; its layers are held
    as uint8 (4 bytes a pixel, not 16) with exactly the values of its float stack."""
    from layerdiff.loader import load

    decomposer = load("layerdiff-tiny", "decompose")
    image = Image.open(Path(__file__).parents[1] / "layerdiff" / "samples" / "poster.png")
    floats = decomposer.decompose_stack(image)  # (L, H, W, 4) float32
    stack = decomposer.decompose(image, read_text=False)
    assert [layer.stored.dtype for layer in stack.layers] == [np.uint8] * len(floats)
    for k, layer in enumerate(stack.layers):
        assert np.array_equal(layer.pixels, floats[k])
