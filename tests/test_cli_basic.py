"""The info, convert and models subcommands, through main() and once through a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import PSD_FILES

from layerdiff.cli import main
from layerdiff.io import load
from layerdiff.layered import from_float
from layerdiff.samples import sample_path

POSTER_PSD = str(sample_path("poster.psd"))


def test_info_prints_the_layer_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", POSTER_PSD]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("psd, 512x384, 6 layer(s), 8-bit")
    assert out[1].split() == ["#", "name", "size", "offset", "opacity", "visible", "blend", "group"]
    top, bottom = out[2], out[-1]
    assert top.split()[:2] == ["5", "Subtitle"] and top.split()[-1] == "Panel"
    assert bottom.split() == ["0", "Background", "512x384", "0,0", "1.00", "yes", "normal"]
    shadow = next(line for line in out if "shadow" in line)
    assert "multiply" in shadow and "0.60" in shadow


def test_info_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--json", POSTER_PSD]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["width"], info["height"], info["metadata"]["format"]) == (512, 384, "psd")
    sun = info["layers"][1]
    assert sun == {"index": 1, "name": "Sun", "width": 220, "height": 220, "offset": [300, 30],
                   "opacity": 1.0, "visible": True, "blend_mode": "normal", "group": []}


def test_info_on_a_flat_png(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(sample_path("poster.png"))]) == 0
    assert "png, 512x384, 1 layer(s)" in capsys.readouterr().out


def test_info_error_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.psd"
    bad.write_bytes(b"definitely not a psd")
    assert main(["info", str(bad)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"layerdiff info: error: {bad}: unknown file signature; not a PSD, ORA, PNG, JPEG, WebP, "
                   "TIFF or ZIP"]


def test_info_reports_reader_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(PSD_FILES / "passthrough_opacity.psd")]) == 0  # an adjustment layer is baked
    assert "layerdiff info: warning:" in capsys.readouterr().err


@pytest.mark.parametrize("target", ["poster.ora", "poster.zip", "poster-layers", "again.psd"])
def test_convert_between_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str) -> None:
    out = tmp_path / target
    assert main(["convert", POSTER_PSD, str(out)]) == 0
    assert "6 layer(s)" in capsys.readouterr().out
    src, dst = load(POSTER_PSD), load(out)
    assert [lay.name for lay in dst] == [lay.name for lay in src]
    for a, b in zip(src, dst):
        np.testing.assert_array_equal(from_float(a.pixels), from_float(b.pixels))
        assert (a.offset, a.opacity, a.blend_mode) == (b.offset, b.opacity, b.blend_mode)


def test_convert_with_explicit_format_and_back(tmp_path: Path) -> None:
    assert main(["convert", POSTER_PSD, str(tmp_path / "stack.bin"), "--format", "ora"]) == 0
    assert main(["convert", str(tmp_path / "stack.bin"), str(tmp_path / "back.psd")]) == 0
    assert len(load(tmp_path / "back.psd")) == 6


def test_convert_unknown_output_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", POSTER_PSD, str(tmp_path / "x.gif")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("layerdiff convert: error:") and "cannot tell the output format" in err
    assert not (tmp_path / "x.gif").exists()


def test_models_lists_presets(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["name", "kind", "tasks", "(methods)"]
    tiny = next(line for line in lines if line.startswith("tiny-random"))
    assert "random init (no weights)" in tiny and " 32 " in f" {tiny} "
    default = next(line for line in lines if line.startswith("layerdiff-tiny")).split()
    assert "decompose(regions/diffusion)" in default and "6" in default  # the preset's one layer limit
    flood = next(line for line in lines if line.startswith("floodfill")).split()
    assert "extract(baseline)" in flood and "-" in flood  # an extractor has no layer limit


def test_models_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--json", "--kind", "layerdiff"]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = [r["name"] for r in rows]
    assert "tiny-random" in names and "layerdiff-tiny" in names
    assert set(rows[0]) >= {"name", "kind", "tasks", "native_resolution", "max_layers", "weights", "license"}
    by_name = {r["name"]: r for r in rows}
    assert by_name["layerdiff-tiny"]["tasks"]["decompose"] == ["regions", "diffusion"]
    assert main(["models", "--json", "--task", "extract"]) == 0
    assert {r["name"] for r in json.loads(capsys.readouterr().out)} == {"floodfill", "layerdiff-tiny", "tiny-random"}


def test_exit_codes_in_a_real_process(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ora"
    bad.write_bytes(b"PK\x03\x04 broken zip")
    run = [sys.executable, "-m", "layerdiff", "info"]
    failed = subprocess.run([*run, str(bad)], capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1
    assert failed.stderr.startswith(f"layerdiff info: error: {bad}:") and failed.stderr.count("\n") == 1
    ok = subprocess.run([*run, POSTER_PSD], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "Subtitle" in ok.stdout
