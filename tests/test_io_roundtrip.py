"""Writers and readers: PSD / ORA / PNG-folder / ZIP round trips, what the PSD reader does with groups,
clipping, masks and adjustments, flat images, and atomic writes."""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import PSD_CORPUS, PSD_FILES
from PIL import Image
from psd_tools.psd.document import PSD

from layerdiff.io import SUPPORTED_INPUTS, load, read_image_rgba, save, sniff
from layerdiff.io.psd import read_psd
from layerdiff.layered import Layer, LayeredImage, from_float
from layerdiff.samples import sample_path

CORPUS = PSD_FILES  # committed psd-tools test files (tests/data/psd)
CORPUS_ONLY = ("cmyk-spot.psd", "adjustments__invert_cmyk.psd", "mask-index.psd")  # 0.4-0.9 MB: not committed


def quiet_load(path: Path, **kwargs) -> LayeredImage:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load(path, **kwargs)


def assert_same_stack(a: LayeredImage, b: LayeredImage) -> None:
    """Identical 8-bit pixels and metadata (name, visibility, opacity, offset, blend mode, group)."""
    assert a.size == b.size
    assert [lay.name for lay in a] == [lay.name for lay in b]
    for x, y in zip(a, b):
        assert (x.visible, x.opacity, x.offset, x.blend_mode) == \
            (y.visible, y.opacity, y.offset, y.blend_mode), x.name
        assert list(x.metadata.get("group", [])) == list(y.metadata.get("group", [])), x.name
        np.testing.assert_array_equal(from_float(x.pixels), from_float(y.pixels), err_msg=x.name)


def small_stack() -> LayeredImage:
    """Four layers exercising offsets (one off-canvas), opacity, hidden, blend modes and groups."""
    rng = np.random.default_rng(0)
    bg = np.concatenate([rng.integers(0, 256, (20, 24, 3)), np.full((20, 24, 1), 255)], -1).astype(np.uint8)
    spot = np.zeros((8, 10, 4), np.uint8)
    spot[2:7, 1:9] = (250, 40, 10, 200)
    return LayeredImage((24, 20), [
        Layer(bg, name="Background"),
        Layer(spot, name="Spot", offset=(18, -3), opacity=128 / 255, metadata={"group": ["Group A"]}),
        Layer(spot, name="Dark", offset=(2, 9), blend_mode="multiply",
              metadata={"group": ["Group A", "Inner"]}),
        Layer(spot, name="Hidden ünïcode", offset=(5, 5), visible=False),
    ])


# ---------------------------------------------------------------- round trips
@pytest.mark.parametrize("suffix", [".psd", ".ora", ".zip", ".png-dir"])
def test_stack_round_trips_through_every_writer(tmp_path: Path, suffix: str) -> None:
    original = small_stack()
    first = quiet_load(save(original, tmp_path / f"a{suffix}"))
    # the PSD reader crops each layer to its non-transparent pixels; the other formats keep blocks as they are
    assert_same_stack(original.copy().crop_to_content() if suffix == ".psd" else original, first)
    second = quiet_load(save(first, tmp_path / f"b{suffix}"))
    assert_same_stack(first, second)


def test_psd_to_stack_to_psd_to_stack_is_identical(tmp_path: Path) -> None:
    for name in ("semi-transparent-layers.psd", "hidden-groups.psd", "clipping-mask4.psd"):
        first = quiet_load(CORPUS / name)
        second = quiet_load(save(first, tmp_path / name))
        assert_same_stack(first, second)
        third = quiet_load(save(second, tmp_path / f"again-{name}"))
        assert_same_stack(second, third)


def test_ora_to_stack_to_ora_to_stack_is_identical(tmp_path: Path) -> None:
    first = quiet_load(save(quiet_load(sample_path("poster.psd")), tmp_path / "poster.ora"))
    second = quiet_load(save(first, tmp_path / "again.ora"))
    assert_same_stack(first, second)
    np.testing.assert_allclose(first.composite(), second.composite())


def test_written_psd_reopens_in_psd_tools_with_same_pixels(tmp_path: Path) -> None:
    from psd_tools import PSDImage

    image = small_stack()
    psd = PSDImage.open(save(image, tmp_path / "x.psd"))
    leaves = [lay for lay in psd.descendants() if not lay.is_group()]
    assert [lay.name for lay in leaves] == [lay.name for lay in image]
    assert [lay.opacity for lay in leaves] == [255, 128, 255, 255]
    assert [lay.visible for lay in leaves] == [True, True, True, False]
    assert leaves[2].blend_mode.name == "MULTIPLY"
    assert leaves[1].offset == (18, -3)
    np.testing.assert_array_equal(np.asarray(leaves[1].topil().convert("RGBA")), from_float(image[1].pixels))
    assert [g.name for g in psd.descendants() if g.is_group()] == ["Group A", "Inner"]


def test_ora_layout_follows_the_spec(tmp_path: Path) -> None:
    path = save(small_stack(), tmp_path / "x.ora")
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert names[0] == "mimetype"
        assert zf.getinfo("mimetype").compress_type == zipfile.ZIP_STORED
        assert zf.read("mimetype") == b"image/openraster"
        assert {"stack.xml", "mergedimage.png", "Thumbnails/thumbnail.png"} <= set(names)
        assert sum(n.startswith("data/") and n.endswith(".png") for n in names) == 4
        xml = zf.read("stack.xml").decode()
        merged = Image.open(io.BytesIO(zf.read("mergedimage.png")))
        assert merged.size == (24, 20)
    assert 'composite-op="svg:multiply"' in xml and 'visibility="hidden"' in xml
    assert 'x="18" y="-3"' in xml and '<stack name="Inner">' in xml
    # top layer first in stack.xml
    assert xml.index("Hidden") < xml.index('name="Background"')


def test_png_folder_manifest_and_zip(tmp_path: Path) -> None:
    folder = save(small_stack(), tmp_path / "layers")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["canvas"] == {"width": 24, "height": 20}
    assert [e["file"] for e in manifest["layers"]][:2] == ["0001_Background.png", "0002_Spot.png"]
    entry = manifest["layers"][2]
    assert (entry["blend_mode"], entry["offset"], entry["visible"], entry["group"]) == \
        ("multiply", [2, 9], True, ["Group A", "Inner"])
    assert all((folder / e["file"]).is_file() for e in manifest["layers"])
    zipped = save(small_stack(), tmp_path / "layers.zip")
    assert sniff(zipped) == "zip" and sniff(folder) == "png-dir"
    # a ZIP of the folder with the files inside one top-level folder also loads
    nested = tmp_path / "nested.zip"
    with zipfile.ZipFile(nested, "w") as zf:
        for p in folder.iterdir():
            zf.write(p, f"layers/{p.name}")
    assert_same_stack(quiet_load(folder), quiet_load(nested))


def test_save_format_selection(tmp_path: Path) -> None:
    image = small_stack()
    assert zipfile.is_zipfile(save(image, tmp_path / "odd.bin", format="ora"))
    assert (save(image, tmp_path / "stack.png-dir") / "manifest.json").is_file()
    with pytest.raises(ValueError, match="cannot tell the output format"):
        save(image, tmp_path / "x.jpg")
    with pytest.raises(ValueError, match="unknown output format"):
        save(image, tmp_path / "x.psd", format="gif")
    with pytest.raises(ValueError, match="no layers"):
        save(LayeredImage((2, 2)), tmp_path / "empty.psd")


# ---------------------------------------------------------------- atomic writes
def _boom(*args, **kwargs):
    raise OSError("disk full (simulated)")


@pytest.mark.parametrize("suffix, owner, attr", [
    (".psd", PSD, "write"),
    (".ora", zipfile.ZipFile, "writestr"),
    (".zip", zipfile.ZipFile, "writestr"),
    (".png-dir", Path, "write_bytes"),
])
def test_interrupted_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str,
                                          owner: type, attr: str) -> None:
    """The writer fails part-way (PSD: after some bytes; others: on the third member/file)."""
    real = getattr(owner, attr)
    calls = {"n": 0}

    def fail_on_third_call(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3 or suffix == ".psd":
            if suffix == ".psd":  # write part of the document first, then fail
                args[0].write(b"8BPS partial")
            raise OSError("disk full (simulated)")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(owner, attr, fail_on_third_call)
    final = tmp_path / f"out{suffix}"
    with pytest.raises(OSError, match="simulated"):
        save(small_stack(), final)
    assert not final.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary left behind either


def test_interrupted_overwrite_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    final = save(small_stack(), tmp_path / "keep.ora")
    before = final.read_bytes()
    monkeypatch.setattr("zipfile.ZipFile.writestr", _boom)
    with pytest.raises(OSError):
        save(LayeredImage.from_numpy(np.zeros((1, 3, 3, 4))), final)
    assert final.read_bytes() == before


# ---------------------------------------------------------------- PSD reader semantics
def _psd(tmp_path: Path, build) -> Path:
    from psd_tools import PSDImage

    psd = PSDImage.new("RGBA", (8, 8), color=0)
    build(psd)
    path = tmp_path / "built.psd"
    psd.save(path)
    return path


def _rgba(color: tuple[int, int, int, int], size: tuple[int, int] = (8, 8)) -> Image.Image:
    return Image.new("RGBA", size, color)


def test_group_opacity_and_visibility_fold_into_children(tmp_path: Path) -> None:
    def build(psd) -> None:
        psd.create_pixel_layer(_rgba((255, 255, 255, 255)), name="bg")
        group = psd.create_group(name="G", opacity=128)
        group.create_pixel_layer(_rgba((255, 0, 0, 255)), name="in G", opacity=255)
        hidden = psd.create_group(name="H")
        hidden.create_pixel_layer(_rgba((0, 0, 255, 255)), name="in H")
        hidden.visible = False

    image = quiet_load(_psd(tmp_path, build))
    assert [lay.name for lay in image] == ["bg", "in G", "in H"]
    assert image[1].opacity == pytest.approx(128 / 255) and image[1].metadata["group"] == ["G"]
    assert image[2].visible is False and image[2].metadata["group"] == ["H"]
    np.testing.assert_allclose(image.composite()[0, 0], [1, 127 / 255, 127 / 255, 1], atol=1 / 255)


def test_clipped_layer_takes_its_base_alpha(tmp_path: Path) -> None:
    base = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    base.paste((0, 255, 0, 255), (0, 0, 4, 8))

    def build(psd) -> None:
        psd.create_pixel_layer(base, name="base")
        clipped = psd.create_pixel_layer(_rgba((255, 0, 0, 255)), name="clipped")
        clipped.clipping = True

    image = quiet_load(_psd(tmp_path, build))
    clipped = image[1]
    assert clipped.metadata["clipping"] is True
    full = clipped.on_canvas(image.size)
    assert full[0, 1, 3] == 1.0 and full[0, 6, 3] == 0.0
    np.testing.assert_allclose(image.composite()[0, 1], [1, 0, 0, 1])


def test_layer_mask_is_applied(tmp_path: Path) -> None:
    mask = Image.new("L", (8, 8), 0)
    mask.paste(255, (0, 0, 8, 4))

    def build(psd) -> None:
        layer = psd.create_pixel_layer(_rgba((10, 20, 30, 255)), name="masked")
        layer.create_mask(mask)

    layer = quiet_load(_psd(tmp_path, build))[0]
    assert layer.pixels.shape[:2] == (4, 8) and layer.offset == (0, 0)
    np.testing.assert_allclose(layer.pixels[0, 0], [10 / 255, 20 / 255, 30 / 255, 1], atol=1e-6)


def test_non_pass_through_group_is_rasterised_with_a_warning(tmp_path: Path) -> None:
    from psd_tools.constants import BlendMode

    def build(psd) -> None:
        psd.create_pixel_layer(_rgba((200, 200, 200, 255)), name="bg")
        group = psd.create_group(name="Mult", blend_mode=BlendMode.MULTIPLY)
        group.create_pixel_layer(_rgba((255, 0, 0, 255)), name="a")
        group.create_pixel_layer(_rgba((0, 0, 255, 128), (4, 8)), name="b")

    with pytest.warns(UserWarning, match="group 'Mult' rasterised"):
        image = load(_psd(tmp_path, build))
    assert [lay.name for lay in image] == ["bg", "Mult"]
    assert image[1].blend_mode == "multiply" and image[1].metadata["rasterized_group"] is True


def test_adjustment_layers_warn_by_name_and_can_be_dropped() -> None:
    path = CORPUS / "passthrough_opacity.psd"
    with pytest.warns(UserWarning, match="adjustment layer .*baked"):
        baked = load(path)
    with pytest.warns(UserWarning, match="adjustment layer .*dropped"):
        dropped = read_psd(path, adjustments="drop")
    assert baked.metadata["baked_adjustments"] and "baked_adjustments" not in dropped.metadata
    assert not np.allclose(baked.composite(), dropped.composite())
    with pytest.raises(ValueError, match="adjustments"):
        read_psd(path, adjustments="keep")


@pytest.mark.parametrize("name", [
    "colormodes__4x4_8bit_rgb.psd", "colormodes__4x4_8bit_grayscale.psd",
    "colormodes__4x4_16bit_grayscale.psd",
    "colormodes__4x4_32bit_rgb.psd", "colormodes__4x4_1bit_bitmap.psd", "colormodes__4x4_8bit_duotone.psd",
    "colormodes__4x4_8bit_lab.psd", "16bit5x5.psb",
    *(pytest.param(name, marks=pytest.mark.psd_corpus) for name in CORPUS_ONLY),
])
def test_colour_modes_load_to_rgba_close_to_psd_tools(name: str) -> None:
    from layerdiff.io.psd import psd_reference_composite

    path = (PSD_CORPUS if name in CORPUS_ONLY else CORPUS) / name
    image = quiet_load(path)
    ref, _ = psd_reference_composite(path)
    ours = image.composite()
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    over_white = lambda x: x[..., :3] * x[..., 3:4] + (1 - x[..., 3:4])  # noqa: E731
    assert np.mean(np.abs(over_white(ours) - over_white(ref)).max(-1) <= 2 / 255) >= 0.99


def test_16_bit_srgb_psd_keeps_16_bit() -> None:
    image = quiet_load(CORPUS / "16bit5x5.psb")
    assert image.bit_depth == 16 and image.metadata["depth"] == 16


def test_file_without_layers_gives_one_merged_layer() -> None:
    image = quiet_load(CORPUS / "0layers_tblocks.psd")
    assert len(image) == 1 and image.metadata["merged_only"] is True
    assert image[0].pixels.shape[:2] == (image.height, image.width)


def test_sample_psd_matches_sample_png() -> None:
    layered = quiet_load(sample_path("poster.psd"))
    assert len(layered) == 6 and layered[2].blend_mode == "multiply"
    flat = read_image_rgba(sample_path("poster.png"))
    assert flat.shape == (384, 512, 4)
    np.testing.assert_allclose(layered.composite()[..., :3], flat[..., :3], atol=1 / 255 + 1e-6)


# ---------------------------------------------------------------- flat images
@pytest.mark.parametrize("fmt, suffix, exact", [("PNG", ".png", True), ("TIFF", ".tif", True),
                                                ("WEBP", ".webp", False), ("JPEG", ".jpg", False)])
def test_flat_images_load_as_one_layer(tmp_path: Path, fmt: str, suffix: str, exact: bool) -> None:
    rgb = np.zeros((10, 12, 3), np.uint8)
    rgb[:, :6] = (200, 30, 60)
    path = tmp_path / f"flat{suffix}"
    Image.fromarray(rgb).save(path, format=fmt, **({"quality": 95} if fmt in ("JPEG", "WEBP") else {}))
    image = load(path)
    assert len(image) == 1 and image.size == (12, 10) and image.metadata["format"] in SUPPORTED_INPUTS
    got = from_float(image[0].pixels)[..., :3].astype(int)
    if exact:
        np.testing.assert_array_equal(got, rgb)
    else:  # lossy: chroma subsampling blurs the hard edge
        assert np.abs(got - rgb).mean() <= 4


def test_read_image_rgba_applies_exif_orientation(tmp_path: Path) -> None:
    im = Image.new("RGB", (6, 4), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    im.save(tmp_path / "rot.jpg", exif=exif.tobytes())
    arr = read_image_rgba(tmp_path / "rot.jpg")
    assert arr.shape == (6, 4, 4) and arr.dtype == np.float32


def test_16_bit_png_keeps_precision(tmp_path: Path) -> None:
    gray = (np.arange(12, dtype=np.uint16) * 5000).reshape(3, 4)
    Image.fromarray(gray).save(tmp_path / "deep.png")
    image = load(tmp_path / "deep.png")
    assert image.bit_depth == 16
    np.testing.assert_array_equal(from_float(image[0].pixels[..., 0], 16), gray)
