"""Hostile and unusual files: a decode budget refused up front from headers, zip members read once,
one-line errors instead of tracebacks, 16-bit data kept, PSD embedded composites, animated images."""

from __future__ import annotations

import io
import logging
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from layerdiff.cli import main
from layerdiff.errors import LayeredFileError
from layerdiff.io import Limits, load, load_composite, save
from layerdiff.io.encode import encode_png16
from layerdiff.io.psd import psd_tools_log_as_warnings
from layerdiff.layered import Layer, LayeredImage

ROOT = Path(__file__).resolve().parents[1]
BUDGET_ENV = "LAYERDIFF_MAX_DECODED_BYTES"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width x height`` RGBA pixels but holds almost no data (only headers count)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + _chunk(b"IEND", b""))


def ora_bytes(stack_xml: str, members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), b"image/openraster", compress_type=zipfile.ZIP_STORED)
        zf.writestr("stack.xml", stack_xml, compress_type=zipfile.ZIP_DEFLATED)
        for name, data in members.items():
            zf.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def small_png(size: tuple[int, int] = (4, 4)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGBA", size, (200, 10, 10, 255)).save(buf, format="PNG")
    return buf.getvalue()


def one_line_error(capsys: pytest.CaptureFixture, argv: list[str]) -> str:
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    return err


# ------------------------------------------------------------------------------ item 3: decode budget
def test_info_of_a_huge_one_bit_png_is_refused_from_its_header(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bits.png"
    Image.new("1", (8192, 8192)).save(path)  # a few KB on disk, 1 GiB as float RGBA
    assert path.stat().st_size < 64 * 1024
    monkeypatch.setenv(BUDGET_ENV, str(256 * 2**20))
    err = one_line_error(capsys, ["info", str(path)])
    assert "too large" in err and BUDGET_ENV in err and str(path) in err


def test_a_16384_square_png_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    path.write_bytes(png_header_only(16384, 16384))
    with pytest.raises(LayeredFileError, match="too large") as info:  # 4 GiB at 16 B a pixel: over the default
        load(path)  # (decoding would have failed as truncated: the budget spoke first, from the header)
    assert info.value.reason == "too-large"
    with pytest.raises(LayeredFileError, match="too large"):
        load(path, max_decoded_bytes=10**6)  # the keyword
    with pytest.raises(LayeredFileError, match="too large"):
        load(path, limits=Limits(max_decoded_bytes=10**6))


def test_budget_counts_every_layer_of_a_file(tmp_path: Path) -> None:
    image = LayeredImage((64, 64), [Layer(np.zeros((64, 64, 4), np.uint8), name=f"l{i}") for i in range(4)])
    for target in (tmp_path / "a.psd", tmp_path / "a.ora", tmp_path / "a.zip", tmp_path / "dir"):
        save(image, target)
        assert len(load(target, max_decoded_bytes=5 * 64 * 64 * 16)) == 4  # canvas + 4 layers fit
        with pytest.raises(LayeredFileError, match="too large"):
            load(target, max_decoded_bytes=4 * 64 * 64 * 16)


def test_ora_with_4000_layers_on_one_png_is_refused_up_front_and_reads_the_member_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    layers = "".join(f'<layer name="l{i}" src="data/big.png"/>' for i in range(4000))
    path = tmp_path / "many.ora"
    path.write_bytes(ora_bytes(f'<image w="2048" h="2048"><stack>{layers}</stack></image>',
                               {"data/big.png": png_header_only(2048, 2048)}))
    reads: list[str] = []
    real = zipfile.ZipFile.read

    def counting_read(self: zipfile.ZipFile, name: object, pwd: bytes | None = None) -> bytes:
        reads.append(getattr(name, "filename", name))
        return real(self, name, pwd)

    monkeypatch.setattr(zipfile.ZipFile, "read", counting_read)
    with pytest.raises(LayeredFileError, match="too large"):
        load(path)  # the PNG holds no pixel data: refused from the declared sizes alone
    assert reads.count("data/big.png") == 1


def test_memory_error_while_decoding_is_a_one_line_too_large_error(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import layerdiff.io as io_module

    path = tmp_path / "a.png"
    Image.new("RGB", (8, 8)).save(path)

    def no_memory(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(io_module, "read_flat", no_memory)
    with pytest.raises(LayeredFileError, match="too large") as info:
        load(path)
    assert info.value.reason == "too-large"
    assert "too large" in one_line_error(capsys, ["info", str(path)])


# ------------------------------------------------------------------------------ item 4: members read once
def test_zip_stack_decodes_a_member_once_for_many_references(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    import layerdiff.io.images as images

    entries = [{"file": "a.png", "name": f"n{i}"} for i in range(50)]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("manifest.json", json.dumps({"format": "layerdiff-png-stack", "canvas": {"width": 4, "height": 4},
                                                 "layers": entries}))
        zf.writestr("a.png", small_png())
    path = tmp_path / "stack.zip"
    path.write_bytes(buf.getvalue())
    calls = []
    real = images._open_checked

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(images, "_open_checked", counting)
    image = load(path)
    assert len(image) == 50 and len(calls) == 1
    assert image.layers[0].pixels is not image.layers[1].pixels  # each layer still owns its pixels


def test_oversized_stack_xml_is_refused_without_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.ora"
    path.write_bytes(ora_bytes("<image w='4' h='4'><stack/></image>" + " " * (17 * 2**20), {}))
    with pytest.raises(LayeredFileError, match="stack.xml inflates to"):
        load(path)


# ------------------------------------------------------------------------------ item 5: one-line errors
def test_deeply_nested_ora_stacks_are_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "deep.ora"
    xml = "<image w='4' h='4'>" + "<stack>" * 1000 + "<layer src='a.png'/>" + "</stack>" * 1000 + "</image>"
    path.write_bytes(ora_bytes(xml, {"a.png": small_png()}))
    for argv in (["info", str(path)], ["convert", str(path), str(tmp_path / "o.psd")]):
        assert "nests <stack> more than" in one_line_error(capsys, argv)
    with pytest.raises(LayeredFileError, match="nests"):
        load_composite(path)


def test_ora_layer_far_outside_psd_range_is_a_one_line_error_on_psd_output(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "far.ora"
    xml = "<image w='4' h='4'><stack><layer src='a.png' x='1e12'/><layer src='a.png'/></stack></image>"
    path.write_bytes(ora_bytes(xml, {"a.png": small_png()}))
    out = tmp_path / "o.psd"
    err = one_line_error(capsys, ["convert", str(path), str(out)])
    assert "outside the range a PSD can store" in err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["far.ora"]
    assert main(["convert", str(path), str(tmp_path / "o.ora")]) == 0  # ORA holds it


def test_float_tiff_with_nan_and_inf_is_sanitised_with_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                  ) -> None:
    data = np.linspace(0, 2, 64, dtype=np.float32).reshape(8, 8)
    data[0, 0], data[0, 1], data[0, 2] = np.nan, np.inf, -np.inf
    path = tmp_path / "f.tif"
    Image.fromarray(data, "F").save(path)
    with pytest.warns(UserWarning, match="3 float sample"):
        image = load(path)
    px = image.layers[0].pixels  # (8, 8, 4)
    assert np.isfinite(px).all() and px[..., :3].max() == 1.0 and px[7, 7, 0] == 1.0 and px[0, 0, 0] == 0.0
    with pytest.warns(UserWarning):
        rgba, _ = load_composite(path)
    assert np.isfinite(rgba).all() and rgba[..., :3].max() > 0
    assert main(["convert", str(path), str(tmp_path / "f.psd")]) == 0
    assert "NaN or infinite" in capsys.readouterr().err
    assert load(tmp_path / "f.psd").layers[0].pixels[..., :3].max() > 0.9  # not all black


def test_psd_tools_log_records_become_warnings_not_stderr_lines(capfd: pytest.CaptureFixture) -> None:
    with pytest.warns(UserWarning, match="x.psd: psd-tools: unknown block"):
        with psd_tools_log_as_warnings("x.psd"):
            logging.getLogger("psd_tools.psd.tagged_blocks").warning("unknown block %s", "abcd")
    with pytest.raises(ValueError):
        with psd_tools_log_as_warnings("y.psd"):
            logging.getLogger("psd_tools").error("this goes nowhere")
            raise ValueError("the read failed")
    assert capfd.readouterr().err == ""


def test_info_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    image = LayeredImage((8, 8), [Layer(np.zeros((8, 8, 4), np.uint8), name=f"layer {i}") for i in range(300)])
    save(image, tmp_path / "many.ora")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "layerdiff", "info", str(tmp_path / "many.ora")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.close()  # like `| head -1` exiting before layerdiff writes
    _, err = proc.communicate(timeout=600)
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err.decode()
    assert proc.returncode == 0


# ------------------------------------------------------------------------------ item 11: 16 bits kept
def _samples16(h: int = 6, w: int = 7, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 65536, (h, w, 4), dtype=np.uint16)


def _png_depth(data: bytes) -> int:
    return data[24]


def test_16bit_rgba_png_is_read_with_16_bits_and_written_back_exactly(tmp_path: Path) -> None:
    samples = _samples16()
    path = tmp_path / "deep.png"
    path.write_bytes(encode_png16(samples))
    image = load(path)
    assert image.bit_depth == 16
    assert np.array_equal(np.round(image.layers[0].pixels * 65535).astype(np.uint16), samples)
    for target in (tmp_path / "out", tmp_path / "out.zip", tmp_path / "out.ora"):
        save(image, target)
        back = load(target)
        assert back.bit_depth == 16, target
        assert np.array_equal(np.round(back.layers[0].pixels * 65535).astype(np.uint16), samples), target
    assert _png_depth(next((tmp_path / "out").glob("*.png")).read_bytes()) == 16
    save(image, tmp_path / "out.psd")
    back = load(tmp_path / "out.psd")
    assert back.bit_depth == 16 and back.metadata["depth"] == 16
    assert np.array_equal(np.round(back.layers[0].pixels * 65535).astype(np.uint16), samples)


def test_16bit_png_written_by_another_encoder_with_filters_reads_exactly(tmp_path: Path) -> None:
    samples = _samples16(40, 50, seed=3)
    samples[:20] = samples[:20] // 4096 * 4096  # smooth areas make encoders choose Sub/Up/Average/Paeth
    raw = b"".join(b"\x04" + _paeth_row(samples, y) for y in range(samples.shape[0]))
    ihdr = struct.pack(">IIBBBBB", 50, 40, 16, 6, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")
    (tmp_path / "p.png").write_bytes(data)
    got = np.round(load(tmp_path / "p.png").layers[0].pixels * 65535).astype(np.uint16)
    assert np.array_equal(got, samples)


def _paeth_row(samples: np.ndarray, y: int) -> bytes:
    """Row ``y`` of big-endian 16-bit RGBA, Paeth-filtered (PNG filter type 4)."""
    line = samples[y].astype(">u2").view(np.uint8).reshape(-1).astype(np.int32)
    prev = (samples[y - 1].astype(">u2").view(np.uint8).reshape(-1).astype(np.int32) if y else np.zeros_like(line))
    left = np.concatenate([np.zeros(8, np.int32), line[:-8]])
    upleft = np.concatenate([np.zeros(8, np.int32), prev[:-8]])
    p = left + prev - upleft
    pa, pb, pc = np.abs(p - left), np.abs(p - prev), np.abs(p - upleft)
    pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prev, upleft))
    return ((line - pred) % 256).astype(np.uint8).tobytes()


def _tiff16_rgb(samples: np.ndarray) -> bytes:
    """A baseline little-endian uncompressed 16-bit RGB TIFF (one strip)."""
    h, w, _ = samples.shape
    pixels = samples.astype("<u2").tobytes()
    entries = [(256, 3, 1, w), (257, 3, 1, h), (258, 3, 3, 8 + 2 + 12 * 10 + 4), (259, 3, 1, 1), (262, 3, 1, 2),
               (273, 4, 1, 8 + 2 + 12 * 10 + 4 + 6), (277, 3, 1, 3), (278, 3, 1, h), (279, 4, 1, len(pixels)),
               (284, 3, 1, 1)]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHI", tag, kind, count) + (struct.pack("<HH", value, 0) if kind == 3 and count == 1
                                                 else struct.pack("<I", value))
        for tag, kind, count, value in entries) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<HHH", 16, 16, 16) + pixels


def test_16bit_rgb_tiff_keeps_16_bits(tmp_path: Path) -> None:
    samples = _samples16(5, 9, seed=1)[..., :3]
    path = tmp_path / "deep.tif"
    path.write_bytes(_tiff16_rgb(samples))
    image = load(path)
    assert image.bit_depth == 16
    got = np.round(image.layers[0].pixels * 65535).astype(np.uint16)
    assert np.array_equal(got[..., :3], samples) and (got[..., 3] == 65535).all()


# ------------------------------------------------------------------------------ item 12: PSD composite
def test_decomposing_a_psd_uses_its_embedded_composite(tmp_path: Path) -> None:
    from psd_tools import PSDImage
    from psd_tools.api.numpy_io import encode_image_data

    psd = PSDImage.new("RGBA", (6, 4), color=0)
    psd.create_pixel_layer(Image.new("RGBA", (6, 4), (255, 0, 0, 255)), name="red")
    color = np.zeros((4, 6, 3), np.float32)
    color[..., 2] = 1.0  # what "Photoshop rendered": blue (think of a colour overlay effect)
    psd._record.image_data.set_data(encode_image_data(psd, color, np.ones((4, 6, 1), np.float32)),
                                    psd._record.header)
    path = tmp_path / "effects.psd"
    with open(path, "wb") as fh:
        psd._record.write(fh)
    rgba, source = load_composite(path)
    assert source == "embedded composite"
    assert np.allclose(rgba[0, 0], (0, 0, 1, 1))
    assert np.allclose(load(path).composite()[0, 0], (1, 0, 0, 1))  # the layers themselves are red
    png = tmp_path / "flat.png"
    Image.new("RGB", (3, 3), (0, 255, 0)).save(png)
    rgba, source = load_composite(png)
    assert source == "layers" and np.array_equal(rgba, load(png).composite())


def test_psd_written_by_layerdiff_embeds_its_transparent_composite(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    base = (rng.random((20, 30, 4)) * 255).astype(np.uint8)
    base[:5, :5, 3] = 0
    dot = np.zeros((10, 10, 4), np.uint8)
    dot[..., 1], dot[..., 3] = 200, 128
    image = LayeredImage((30, 20), [Layer(base), Layer(dot, offset=(5, 5))])
    save(image, tmp_path / "t.psd")
    rgba, source = load_composite(tmp_path / "t.psd")
    expected = image.composite()  # (20, 30, 4)
    assert source == "embedded composite"
    assert np.abs(rgba[..., 3] - expected[..., 3]).max() <= 1 / 255 + 1e-6
    visible = expected[..., 3] > 0.25  # colour is stored over white in 8 bits: exact to a few levels
    assert np.abs(rgba - expected)[visible].max() <= 3 / 255 + 1e-6


def test_decompose_cli_says_it_uses_the_embedded_composite(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from psd_tools import PSDImage

    psd = PSDImage.new("RGBA", (32, 32), color=0)
    disc = Image.new("RGBA", (32, 32), (30, 60, 200, 255))
    disc.paste((240, 200, 20, 255), (8, 8, 24, 24))
    psd.create_pixel_layer(disc, name="art")
    psd.save(tmp_path / "art.psd")
    out = tmp_path / "out"
    assert main(["decompose", str(tmp_path / "art.psd"), "--layers", "2", "--formats", "psd", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "decomposing the file's embedded composite" in err
    assert (out / "art.psd").is_file()


# ------------------------------------------------------------------------------ item 13: animated images
@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_animated_images_warn_that_only_the_first_frame_is_read(tmp_path: Path, fmt: str) -> None:
    frames = [Image.new("RGBA", (8, 8), (255, 0, 0, 255)), Image.new("RGBA", (8, 8), (0, 0, 255, 255))]
    path = tmp_path / f"anim.{fmt.lower()}"
    frames[0].save(path, format=fmt, save_all=True, append_images=frames[1:], lossless=True)
    with pytest.warns(UserWarning, match="2 frames .* only the first"):
        image = load(path)
    assert image.layers[0].pixels[0, 0, 0] == 1.0


def test_16bit_psd_read_with_8_bit_precision_says_so(tmp_path: Path) -> None:
    from psd_tools import PSDImage

    PSDImage.new("RGB", (4, 4), depth=16).save(tmp_path / "flat16.psd")  # no layers: only a merged image
    with pytest.warns(UserWarning, match="16-bit document read with 8-bit precision"):
        image = load(tmp_path / "flat16.psd")
    assert image.bit_depth == 8
