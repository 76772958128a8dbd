"""16-bit inputs give 16-bit outputs through decompose, extract and edit (issue 27 item 11).

Decomposers and extractors recompose to their input on the 8-bit grid;
:func:`layerdiff.contract.keep_bit_depth` lifts a result to the 16-bit grid of a 16-bit input, and the
writers keep 16 bits in PSD, PNG, ORA and ZIP. Formats that hold 8 bits only (SVG) print one warning.
8-bit inputs are left exactly as they were.
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from layerdiff.cli import main
from layerdiff.contract import image_bit_depth, keep_bit_depth
from layerdiff.io import load, load_composite_with_depth, save
from layerdiff.io.encode import encode_png16
from layerdiff.layered import Layer, LayeredImage, from_float

H, W = 48, 64


def samples16(alpha: bool = False) -> np.ndarray:
    """(H, W, 4) uint16: a gradient background off the 8-bit grid, a flat rectangle and a disc."""
    yy, xx = np.mgrid[0:H, 0:W]
    out = np.empty((H, W, 4), np.uint16)
    out[..., 0] = 9000 + xx * 733  # steps of 733: almost no value is a multiple of 257 (the 8-bit grid)
    out[..., 1] = 20001 + yy * 301
    out[..., 2] = 40003
    out[..., 3] = 65535
    out[10:30, 20:44, :3] = (60001, 1003, 2005)
    out[((yy - 34) ** 2 + (xx - 14) ** 2) < 64, :3] = (3001, 50003, 7007)
    if alpha:
        out[:4, :, 3] = 0
        out[4:8, :, 3] = 30011
    return out


def write_input(path: Path, kind: str, samples: np.ndarray) -> Path:
    """``samples`` as a 16-bit file of ``kind``: png, tiff, grey (16-bit grayscale PNG), psd, psb."""
    if kind == "png":
        path.write_bytes(encode_png16(samples))
    elif kind == "tiff":
        path.write_bytes(tiff16_rgb(samples[..., :3]))
    elif kind == "grey":
        grey = Image.fromarray(np.ascontiguousarray(samples[..., 0]))  # uint16 (H, W): mode I;16
        assert grey.mode == "I;16"
        grey.save(path, format="PNG")
    elif kind in ("psd", "psb"):
        save(LayeredImage((W, H), [Layer(samples)], bit_depth=16), path.with_suffix(".psd"))
        if kind == "psb":
            from psd_tools import PSDImage

            psd = PSDImage.open(path.with_suffix(".psd"))
            psd._record.header.version = 2  # the large document format: same data, 8-byte lengths
            psd.save(path)
    return path


def tiff16_rgb(rgb: np.ndarray) -> bytes:
    """An uncompressed little-endian 16-bit RGB TIFF of ``rgb`` (h, w, 3) uint16, one strip."""
    h, w, _ = rgb.shape
    data = rgb.astype("<u2").tobytes()
    count = 9
    bits_at = 8 + 2 + 12 * count + 4  # the BitsPerSample values follow the IFD
    data_at = bits_at + 6
    tags = [(256, 3, 1, w), (257, 3, 1, h), (258, 3, 3, bits_at), (259, 3, 1, 1), (262, 3, 1, 2),
            (273, 4, 1, data_at), (277, 3, 1, 3), (278, 3, 1, h), (279, 4, 1, len(data))]
    ifd = struct.pack("<H", count)
    for tag, kind, n, value in tags:
        packed = struct.pack("<HH", value, 0) if kind == 3 and n == 1 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, n) + packed
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + struct.pack("<3H", 16, 16, 16) + data


def expected(kind: str, samples: np.ndarray) -> np.ndarray:
    """The (H, W, 4) uint16 image a 16-bit file of ``kind`` holds."""
    if kind == "grey":
        out = np.repeat(samples[..., :1], 4, axis=-1)
        out[..., 3] = 65535
        return out
    return samples


def composite16(image: LayeredImage) -> np.ndarray:
    return from_float(image.composite(), 16).astype(np.int64)  # (H, W, 4)


def assert_matches_16bit(image: LayeredImage, want: np.ndarray) -> None:
    """16-bit layers whose composite equals ``want`` to 16-bit precision (colours where it is visible)."""
    assert image.bit_depth == 16
    got = composite16(image)
    want = want.astype(np.int64)
    assert np.abs(got[..., 3] - want[..., 3]).max() <= 1
    visible = want[..., 3] > 0
    assert np.abs(got[..., :3] - want[..., :3])[visible].max() <= 1


def run(argv: list[str]) -> tuple[int, list[str]]:
    """``layerdiff ARGV``'s exit code and the warnings it gave (each prints as one line)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(argv)
    return code, [str(w.message) for w in caught]


# ------------------------------------------------------------------------------------------ decompose
@pytest.mark.parametrize("kind", ["png", "tiff", "grey", "psd", "psb"])
def test_decompose_of_a_16bit_input_writes_16bit_layers(tmp_path: Path, kind: str) -> None:
    samples = samples16()
    path = write_input(tmp_path / f"in.{kind}", kind, samples)
    want = expected(kind, samples)
    _, _, depth = load_composite_with_depth(path)
    assert depth == 16
    code, warned = run(["decompose", str(path), "-o", str(tmp_path / "out"), "--formats", "psd,png,ora,zip"])
    assert code == 0 and not warned
    out = tmp_path / "out"
    for written in (out / "in.psd", out / "png", out / "in.ora", out / "in.zip"):
        stack = load(written)
        assert len(stack) >= 2, written  # a real decomposition, not the input copied
        assert_matches_16bit(stack, want)


def test_decompose_of_a_16bit_png_with_transparency(tmp_path: Path) -> None:
    samples = samples16(alpha=True)
    path = write_input(tmp_path / "in.png", "png", samples)
    assert main(["decompose", str(path), "-o", str(tmp_path / "out"), "--formats", "psd,png"]) == 0
    for written in (tmp_path / "out" / "in.psd", tmp_path / "out" / "png"):
        assert_matches_16bit(load(written), samples)


def test_svg_output_of_a_16bit_input_warns_once(tmp_path: Path) -> None:
    path = write_input(tmp_path / "deep.png", "png", samples16())
    code, warned = run(["decompose", str(path), "-o", str(tmp_path / "out"), "--formats", "psd,svg"])
    assert code == 0
    assert len(warned) == 1
    assert str(path) in warned[0] and "SVG" in warned[0] and "8 bits" in warned[0]
    assert load(tmp_path / "out" / "deep.psd").bit_depth == 16


def test_8bit_input_stays_8bit_without_a_warning(tmp_path: Path) -> None:
    rgb = (samples16()[..., :3] >> 8).astype(np.uint8)  # (H, W, 3)
    path = tmp_path / "flat.png"
    Image.fromarray(rgb).save(path)
    code, warned = run(["decompose", str(path), "-o", str(tmp_path / "out"), "--formats", "psd,png,svg"])
    assert code == 0 and not warned
    from layerdiff.loader import load as load_model

    direct = load_model().decompose(load(path).composite())  # the decomposer itself, without the CLI
    for written in (tmp_path / "out" / "flat.psd", tmp_path / "out" / "png"):
        stack = load(written)
        assert stack.bit_depth == 8 and len(stack) == len(direct)
        for got, want in zip(stack, direct):  # the same bytes as the decomposer's own layers
            got8, want8 = from_float(got.on_canvas(stack.size), 8), from_float(want.pixels, 8)  # (H, W, 4)
            assert np.array_equal(got8[..., 3], want8[..., 3])
            shown = want8[..., 3] > 0  # (H, W): colours under zero alpha are not kept by every writer
            assert np.array_equal(got8[shown], want8[shown])


# -------------------------------------------------------------------------------------------- extract
def test_extract_of_a_16bit_input_writes_16bit_layers(tmp_path: Path) -> None:
    samples = samples16()
    path = write_input(tmp_path / "in.png", "png", samples)
    code, warned = run(["extract", str(path), "--box", "18,8,46,32", "-o", str(tmp_path / "out"),
                     "--formats", "psd,png,ora,svg"])
    assert code == 0
    assert len(warned) == 1 and "SVG" in warned[0]
    for written in (tmp_path / "out" / "in_extract.psd", tmp_path / "out" / "png", tmp_path / "out" / "in_extract.ora"):
        stack = load(written)
        assert len(stack) == 2 and not stack[1].is_empty()
        assert_matches_16bit(stack, samples)


# ----------------------------------------------------------------------------------------------- edit
@pytest.mark.parametrize("op", [["move", "--dx", "3"], ["recolor", "--color", "#ff8000"],
                                ["opacity", "--value", "0.5"]])
def test_edit_of_a_16bit_stack_keeps_16_bits(tmp_path: Path, op: list[str]) -> None:
    samples = samples16()
    top = np.zeros_like(samples)
    top[5:20, 5:30] = samples[25:40, 30:55]  # 16-bit colours off the 8-bit grid
    top[5:20, 5:30, 3] = 40009
    path = tmp_path / "stack.psd"
    save(LayeredImage((W, H), [Layer(samples, name="bg"), Layer(top, name="top")], bit_depth=16), path)
    code, warned = run(["edit", str(path), "--layer", "top", "--op", *op, "-o", str(tmp_path / "out"),
                     "--formats", "psd,png,ora"])
    assert code == 0 and not warned
    for written in (tmp_path / "out" / "stack_edited.psd", tmp_path / "out" / "png",
                    tmp_path / "out" / "stack_edited.ora"):
        edited = load(written)
        assert edited.bit_depth == 16
        assert np.array_equal(from_float(edited[0].on_canvas(edited.size), 16), samples)  # untouched, exactly
        alpha = from_float(edited[1].pixels[..., 3], 16)
        assert alpha.max() == 40009  # the edited layer's 16-bit alpha is not snapped to 8 bits


def test_regenerate_keeps_the_stack_16bit(tiny_components: dict) -> None:
    import torch

    from layerdiff.pipelines import LayerEditPipeline

    pipe = LayerEditPipeline(**tiny_components)
    pipe.set_progress_bar_config(disable=True)
    samples = samples16()
    stack = LayeredImage((W, H), [Layer(samples, name="bg"), Layer(np.zeros_like(samples), name="obj")],
                         bit_depth=16)
    out = pipe(stack, layer="obj", operation="regenerate", prompt="a red square", output_type="np",
               num_inference_steps=2, generator=torch.Generator().manual_seed(0)).images[0]
    assert out.bit_depth == 16
    assert np.array_equal(from_float(out[0].pixels, 16), samples)


# ---------------------------------------------------------------------------------------------- batch
@pytest.mark.parametrize("per_layer", [False, True])
def test_batch_of_a_16bit_input_writes_16bit_layers(tmp_path: Path, per_layer: bool) -> None:
    from layerdiff.batch import run_batch

    samples = samples16()
    src = tmp_path / "in"
    src.mkdir()
    write_input(src / "deep.png", "png", samples)
    summary = run_batch(src, tmp_path / "out", model="layerdiff-tiny", per_layer=per_layer, workers=0,
                        progress=False)
    assert summary.counts["done"] == 1
    for written in (tmp_path / "out" / "deep" / "deep.psd", tmp_path / "out" / "deep" / "png"):
        stack = load(written)
        assert len(stack) >= 2
        assert_matches_16bit(stack, samples)


# ------------------------------------------------------------------------------------ the contract
def test_keep_bit_depth_leaves_8bit_results_untouched() -> None:
    stack = LayeredImage((4, 3), [Layer(np.full((3, 4, 4), 0.5, np.float32))])
    before = stack[0].pixels.copy()
    assert keep_bit_depth(stack, np.full((3, 4, 4), 0.25, np.float32), 8) is stack
    assert stack.bit_depth == 8 and np.array_equal(stack[0].pixels, before)
    assert keep_bit_depth(stack, (np.full((3, 4, 4), 0.25) * 255).astype(np.uint8)) is stack  # depth from the dtype
    assert stack.bit_depth == 8 and np.array_equal(stack[0].pixels, before)


def test_keep_bit_depth_lifts_an_8bit_decomposition_to_the_16bit_input() -> None:
    samples = samples16()
    target = samples.astype(np.float32) / 65535  # (H, W, 4)
    layer8 = from_float(target, 8).astype(np.float32) / 255  # what an 8-bit decomposition recomposes to
    result = LayeredImage((W, H), [Layer(layer8), Layer(np.zeros((H, W, 4), np.float32))])
    assert np.abs(composite16(result) - samples).max() > 100
    assert image_bit_depth(samples) == 16
    out = keep_bit_depth(result, samples)  # the depth from the uint16 dtype
    assert out is result
    assert_matches_16bit(out, samples)
    assert np.array_equal(result[1].pixels, np.zeros((H, W, 4), np.float32))  # an empty layer stays empty


def test_keep_bit_depth_warns_for_a_stack_it_cannot_project() -> None:
    moved = LayeredImage((W, H), [Layer(np.ones((4, 4, 4), np.float32), offset=(2, 2))])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert keep_bit_depth(moved, samples16()).bit_depth == 8
    assert len(caught) == 1 and "8-bit precision" in str(caught[0].message)


# ------------------------------------------------------------------------------------------- the demo
def test_demo_decompose_and_extract_keep_16_bits(tmp_path: Path) -> None:
    from demo.backend import DemoBackend, DemoSettings
    from layerdiff.referring import ReferringPrompt

    samples = samples16()
    path = write_input(tmp_path / "upload.png", "png", samples)
    settings = DemoSettings(default_model="layerdiff-tiny", generative_model=None, max_upload_mb=10,
                            concurrency=1, max_pixels=1 << 20, work_dir=tmp_path / "work")
    backend = DemoBackend(settings)
    stack = backend.decompose(path, automatic=True, layers=4, model="layerdiff-tiny")
    assert len(stack) >= 2
    assert_matches_16bit(stack, samples)
    assert load(backend.export(stack, "psd", "upload")).bit_depth == 16
    flat = backend.open(path)
    peeled, index, _ = backend.extract(flat, ReferringPrompt(box=(18, 8, 46, 32)), "layerdiff-tiny")
    assert index == 1 and len(peeled) == 2
    assert_matches_16bit(peeled, samples)


def test_python_api_keeps_16_bits_of_a_uint16_array():
    """layerdiff.load(...).decompose / .extract of a uint16 array give 16-bit layers, as the CLI does."""
    import layerdiff
    from layerdiff.referring import ReferringPrompt

    rng = np.random.default_rng(3)
    image = np.zeros((96, 128, 3), np.uint16)
    image[...] = (np.linspace(8000, 50000, 128)[None, :, None] + rng.integers(0, 40, (96, 128, 1))).astype(np.uint16)
    image[20:60, 30:80] = (61234, 1234, 30001)
    stack = layerdiff.load("layerdiff-tiny", "decompose").decompose(image, read_text=False)
    assert stack.bit_depth == 16
    got = np.round(stack.composite()[..., :3] * 65535)
    assert np.abs(got - image).max() <= 1
    pulled = layerdiff.load("layerdiff-tiny", "extract").extract(image, ReferringPrompt(box=(25, 15, 85, 65)),
                                                                 read_text=False)
    assert pulled.bit_depth == 16
    assert np.abs(np.round(pulled.composite()[..., :3] * 65535) - image).max() <= 1
