"""Bad input: every failure is a LayeredFileError with a documented reason, raised quickly."""

from __future__ import annotations

import io
import json
import struct
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import PSD_FILES
from PIL import Image

from layerdiff.errors import LayeredFileError
from layerdiff.io import REASONS, Limits, load, read_image_rgba, save, sniff
from layerdiff.layered import LayeredImage

CORPUS = PSD_FILES  # committed psd-tools test files (tests/data/psd)


def refused(path: Path, reason: str | set[str], **kwargs) -> LayeredFileError:
    with pytest.raises(LayeredFileError) as info:
        load(path, **kwargs)
    err = info.value
    assert err.reason in REASONS
    assert err.reason in ({reason} if isinstance(reason, str) else reason), str(err)
    assert str(err).startswith(str(path)) and "\n" not in str(err)
    return err


def png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def bomb_png(width: int, height: int) -> bytes:
    """A valid-looking PNG header declaring ``width x height`` with a few bytes of data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + png_chunk(b"IEND", b""))


def small_png(tmp_path: Path, name: str = "img.png", size: tuple[int, int] = (16, 12)) -> Path:
    path = tmp_path / name
    Image.new("RGBA", size, (10, 200, 30, 255)).save(path, format="PNG")
    return path


# ---------------------------------------------------------------- non-images
def test_empty_file_and_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "empty.psd").write_bytes(b"")
    refused(tmp_path / "empty.psd", "empty")
    (tmp_path / "nothing").mkdir()
    refused(tmp_path / "nothing", "empty")


def test_random_bytes_are_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "noise.psd"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    refused(path, "not-an-image")
    (tmp_path / "text.png").write_text("hello, I am not a picture")
    refused(tmp_path / "text.png", "not-an-image")


def test_missing_path_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nope.psd")


def test_png_named_psd_loads_as_png(tmp_path: Path) -> None:
    real = small_png(tmp_path)
    fake = tmp_path / "actually-png.psd"
    fake.write_bytes(real.read_bytes())
    assert sniff(fake) == "png"
    image = load(fake)
    assert image.metadata["format"] == "png" and len(image) == 1
    np.testing.assert_array_equal(image[0].pixels, load(real)[0].pixels)


def test_unsupported_containers(tmp_path: Path) -> None:
    Image.new("RGB", (4, 4)).save(tmp_path / "a.gif")
    refused(tmp_path / "a.gif", "unsupported")
    with zipfile.ZipFile(tmp_path / "plain.zip", "w") as zf:
        zf.writestr("readme.txt", "no layers here")
    refused(tmp_path / "plain.zip", "unsupported")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "a.txt").write_text("x")
    refused(tmp_path / "folder", "unsupported")


# ---------------------------------------------------------------- truncation and corruption
@pytest.mark.parametrize("name", ["semi-transparent-layers.psd", "2layers.psb", "colormodes__4x4_8bit_rgb.psd"])
@pytest.mark.parametrize("fraction", [0.0005, 0.01, 0.3, 0.7])
def test_truncated_psd_is_refused(tmp_path: Path, name: str, fraction: float) -> None:
    data = (CORPUS / name).read_bytes()
    cut = tmp_path / name
    cut.write_bytes(data[: max(5, int(len(data) * fraction))])
    refused(cut, {"truncated", "corrupt"})


def test_psd_header_cut_is_truncated(tmp_path: Path) -> None:
    data = (CORPUS / "1layer.psd").read_bytes()
    for n in (4, 10, 25, 30):
        (tmp_path / "cut.psd").write_bytes(data[:n])
        refused(tmp_path / "cut.psd", "truncated")


def test_psd_with_garbage_sections_is_corrupt(tmp_path: Path) -> None:
    data = bytearray((CORPUS / "hidden-groups.psd").read_bytes())
    rng = np.random.default_rng(3)
    start = 26 + 4 + 200
    data[start:start + 2000] = rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()
    (tmp_path / "garbled.psd").write_bytes(bytes(data))
    try:
        image = load(tmp_path / "garbled.psd")
    except LayeredFileError as err:
        assert err.reason in ("corrupt", "truncated", "too-large")
    else:
        assert isinstance(image, LayeredImage)


def test_bad_psd_header_fields(tmp_path: Path) -> None:
    header = struct.pack(">4sH6sHIIHH", b"8BPS", 1, b"\0" * 6, 3, 10, 10, 12, 3)  # depth 12
    (tmp_path / "depth.psd").write_bytes(header + b"\0" * 64)
    refused(tmp_path / "depth.psd", "corrupt")
    header = struct.pack(">4sH6sHIIHH", b"8BPS", 7, b"\0" * 6, 3, 10, 10, 8, 3)  # version 7
    (tmp_path / "version.psd").write_bytes(header + b"\0" * 64)
    refused(tmp_path / "version.psd", "corrupt")


def test_truncated_png_is_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    refused(tmp_path / "cut.png", {"truncated", "corrupt"})


# ---------------------------------------------------------------- size limits
def test_decompression_bomb_png_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb_png(100_000, 100_000))
    assert path.stat().st_size < 200
    start = time.perf_counter()
    err = refused(path, "too-large")
    assert time.perf_counter() - start < 2.0
    assert "10,000,000,000 pixels" in str(err)
    with pytest.raises(LayeredFileError, match="over the limit"):
        read_image_rgba(path)


def test_huge_psb_canvas_is_refused_from_its_header(tmp_path: Path) -> None:
    header = struct.pack(">4sH6sHIIHH", b"8BPS", 2, b"\0" * 6, 3, 200_000, 200_000, 8, 3)
    (tmp_path / "huge.psb").write_bytes(header + b"\0" * 64)
    refused(tmp_path / "huge.psb", "too-large")


def test_pixel_limit_from_argument_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = small_png(tmp_path, size=(40, 30))
    refused(path, "too-large", limits=Limits(max_pixels=1000))
    assert len(load(path, limits=Limits(max_pixels=1200))) == 1
    monkeypatch.setenv("LAYERDIFF_MAX_PIXELS", "500")
    refused(path, "too-large")
    refused(CORPUS / "1layer.psd", "too-large")
    monkeypatch.setenv("LAYERDIFF_MAX_PIXELS", "lots")
    with pytest.raises(ValueError, match="LAYERDIFF_MAX_PIXELS"):
        load(path)
    with pytest.raises(ValueError, match="max_pixels"):
        Limits(max_pixels=0)


def test_zip_member_over_the_limit_is_refused(tmp_path: Path) -> None:
    folder = save(LayeredImage.from_numpy(np.zeros((1, 8, 8, 4))), tmp_path / "stack")
    layer_file = json.loads((folder / "manifest.json").read_text())["layers"][0]["file"]
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.write(folder / "manifest.json", "manifest.json")
        zf.writestr(layer_file, b"\0" * 5_000_000)  # inflates 5 MB from a few kB
    assert path.stat().st_size < 100_000
    refused(path, "too-large", limits=Limits(max_member_bytes=1_000_000))


# ---------------------------------------------------------------- malformed ORA / PNG folders
def test_manifest_problems(tmp_path: Path) -> None:
    folder = save(LayeredImage.from_numpy(np.zeros((1, 8, 8, 4))), tmp_path / "stack")
    manifest = folder / "manifest.json"
    good = json.loads(manifest.read_text())
    manifest.write_text("{not json")
    refused(folder, "corrupt")
    manifest.write_text(json.dumps({**good, "layers": [{**good["layers"][0], "file": "../escape.png"}]}))
    refused(folder, "corrupt")
    manifest.write_text(json.dumps({**good, "layers": [{**good["layers"][0], "file": "missing.png"}]}))
    refused(folder, "corrupt")
    manifest.write_text(json.dumps({**good, "canvas": {"width": "wide"}}))
    refused(folder, "corrupt")
    manifest.write_text(json.dumps({**good, "layers": [{**good["layers"][0], "opacity": 7}]}))
    refused(folder, "corrupt")


def test_ora_problems(tmp_path: Path) -> None:
    path = save(LayeredImage.from_numpy(np.zeros((1, 8, 8, 4))), tmp_path / "x.ora")
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}

    def variant(name: str, **changes: bytes | None) -> Path:
        out = tmp_path / name
        with zipfile.ZipFile(out, "w") as zf:
            for n, data in {**members, **changes}.items():
                if data is not None:
                    zf.writestr(n, data)
        return out

    entity = b'<?xml version="1.0"?><!DOCTYPE image [<!ENTITY a "aaaa">]><image w="8" h="8"><stack/></image>'
    refused(variant("dtd.ora", **{"stack.xml": entity}), "corrupt")
    refused(variant("badxml.ora", **{"stack.xml": b"<image"}), "corrupt")
    refused(variant("nostack.ora", **{"stack.xml": None}), "corrupt")
    big = b'<image w="100000" h="100000"><stack/></image>'
    refused(variant("big.ora", **{"stack.xml": big}), "too-large")
    refused(variant("nodata.ora", **{"data/0001.png": None}), "corrupt")
    bad_png = variant("badpng.ora", **{"data/0001.png": b"\x89PNG\r\n\x1a\n garbage"})
    refused(bad_png, {"corrupt", "truncated"})


def test_truncated_zip_is_refused(tmp_path: Path) -> None:
    path = save(LayeredImage.from_numpy(np.zeros((2, 8, 8, 4))), tmp_path / "x.ora")
    data = path.read_bytes()
    (tmp_path / "cut.ora").write_bytes(data[: len(data) // 2])
    refused(tmp_path / "cut.ora", {"truncated", "corrupt"})


def test_read_image_rgba_rejects_layered_zip(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.txt", "x")
    (tmp_path / "a.zip").write_bytes(buf.getvalue())
    with pytest.raises(LayeredFileError) as info:
        read_image_rgba(tmp_path / "a.zip")
    assert info.value.reason in ("not-an-image", "unsupported")
