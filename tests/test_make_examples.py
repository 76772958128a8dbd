"""benchmarks/make_examples.py: the picture of decompositions of ground-truth files (--files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bench_scripts import load_benchmark
from PIL import Image

from layerdiff.io import save
from layerdiff.layered import LayeredImage


def _script():
    return load_benchmark("make_examples")


def _stack(size: int = 32) -> LayeredImage:
    """A red background, an empty layer (left out of the picture) and a blue box."""
    layers = np.zeros((3, size, size, 4), np.float32)
    layers[0] = (1.0, 0.0, 0.0, 1.0)
    layers[2, 8:24, 8:24] = (0.0, 0.0, 1.0, 1.0)
    return LayeredImage.from_numpy(layers)


def test_files_rows_show_the_truth_then_each_model(tmp_path: Path):
    save(_stack(), tmp_path / "a.ora")
    out = tmp_path / "ex.png"
    assert _script().main(["--files", str(tmp_path / "a.ora"), "--models", "single-layer",
                           "--tile", "16", "--layers", "2", "--out", str(out)]) == 0
    pic = np.asarray(Image.open(out).convert("RGB")).astype(int)  # (16, 16 + 2 * (4 + 2 * 16), 3)
    assert pic.shape == (16, 16 + 2 * (4 + 2 * 16), 3)
    truth_bg, truth_box = pic[:, 20:36], pic[:, 36:52]
    assert (truth_bg[8] == (255, 0, 0)).all()  # the background, opaque red
    assert tuple(truth_box[8, 8]) == (0, 0, 255) and tuple(truth_box[1, 1]) == (128, 128, 128)  # box on grey
    model_first, model_pad = pic[:, 56:72], pic[:, 72:88]
    assert tuple(model_first[8, 8]) == (0, 0, 255) and tuple(model_first[1, 1]) == (255, 0, 0)  # the input
    assert (model_pad == 128).all()  # single-layer has no second layer: a grey tile


def test_bad_file_is_a_one_line_error(tmp_path: Path):
    bad = tmp_path / "broken.psd"
    bad.write_bytes(b"not a psd at all")
    with pytest.raises(SystemExit) as err:
        _script().main(["--files", str(bad), "--models", "single-layer", "--out", str(tmp_path / "x.png")])
    message = str(err.value)
    assert "broken.psd" in message and "\n" not in message
    assert not (tmp_path / "x.png").exists()


def test_generate_rows_show_the_truth_then_what_the_model_generates(tmp_path: Path, capsys):
    out = tmp_path / "gen.png"
    assert _script().main(["--generate", "tiny-random", "--count", "2", "--seed", "777", "--tile", "16",
                           "--layers", "4", "--out", str(out)]) == 0
    pic = np.asarray(Image.open(out).convert("RGB")).astype(int)
    # per row: composite 16 + (4 + 4 x 16) | 12 + composite 16 + (4 + 4 x 16)
    assert pic.shape == (2 * 16, 16 + 68 + 12 + 16 + 68, 3)
    assert (pic[:, 16:20] == 255).all() and (pic[:, 84:96] == 255).all()  # the separators
    assert not (pic[:, 96:112] == 128).all()  # a generated composite, not an empty tile
    printed = capsys.readouterr().out
    assert printed.count("| layers:") == 2 and "wrote" in printed
