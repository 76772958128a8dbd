"""decompose, extract, batch and eval reach models only through layerdiff.load: one layer limit with one
message everywhere, one-line refusals of options an implementation cannot honour, argument checks
before any heavy import, and a cold region-path extract that imports neither torch nor diffusers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from layerdiff.cli import main
from layerdiff.contract import LayerLimitError, layer_limit_message
from layerdiff.loader import load
from layerdiff.registry import DEFAULT_MODEL, get_preset

LIMIT = get_preset(DEFAULT_MODEL).max_layers
TOO_MANY = layer_limit_message(DEFAULT_MODEL, LIMIT, "num_layers", 12)


@pytest.fixture()
def png(tmp_path: Path, design) -> Path:
    path = tmp_path / "design.png"
    Image.fromarray((design * 255).round().astype(np.uint8)).save(path)
    return path


def _one_error_line(capsys: pytest.CaptureFixture[str], command: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"layerdiff {command}: error: ")
    return err[0].split(": error: ", 1)[1]


def test_one_layer_limit_message_on_every_path(png, tmp_path, capsys, design):
    """--layers 12 on the command line, the decomposer, batch and a diffusion pipeline: the same line."""
    assert main(["decompose", str(png), "--layers", "12", "-o", str(tmp_path / "o")]) == 1
    assert _one_error_line(capsys, "decompose") == TOO_MANY
    assert not (tmp_path / "o").exists()
    with pytest.raises(LayerLimitError) as err:
        load().decompose(design, 12)
    assert str(err.value) == TOO_MANY
    assert main(["batch", str(png.parent), "-o", str(tmp_path / "b"), "--layers", "12", "-q"]) == 1
    assert _one_error_line(capsys, "batch") == TOO_MANY
    with pytest.raises(LayerLimitError) as err:
        load("tiny-random").decompose(design, 12)  # a diffusion pipeline: same check, same words
    assert str(err.value) == layer_limit_message("tiny-random", get_preset("tiny-random").max_layers,
                                                 "num_layers", 12)
    assert main(["decompose", str(png), "--max-layers", "9", "-o", str(tmp_path / "o")]) == 1
    assert _one_error_line(capsys, "decompose") == layer_limit_message(DEFAULT_MODEL, LIMIT, "max_layers", 9)


@pytest.mark.parametrize("argv, words", [
    (["decompose", "{png}", "--steps", "3"], ["does not take the option steps", "--method diffusion"]),
    (["decompose", "{png}", "--prompt", "a poster"], ["does not take the option prompt"]),
    (["decompose", "{png}", "--model", "cluster-matting", "--steps", "3"], ["'cluster-matting'", "steps"]),
    (["extract", "{png}", "--point", "10,10", "--steps", "20"], ["does not take the option steps"]),
    (["extract", "{png}", "--point", "10,10", "--model", "floodfill", "--steps", "20"], ["'floodfill'"]),
    (["decompose", "{png}", "--model", "cluster-matting", "--method", "diffusion"],
     ["has no 'diffusion' method for decompose"]),
])
def test_unhonoured_options_are_refused_in_one_line(png, tmp_path, capsys, argv, words):
    out = tmp_path / "out"
    assert main([a.format(png=png) for a in argv] + ["-o", str(out)]) == 1
    message = _one_error_line(capsys, argv[0])
    assert all(w in message for w in words), message
    assert not out.exists()


def test_extract_checks_arguments_before_importing_anything_heavy(png, tmp_path):
    """A bad box, a point outside the image: one line, and torch / diffusers never imported; a good
    extraction with the default model does not import them either."""
    code = ("import sys; from layerdiff.cli import main; rc = main(sys.argv[1:]); "
            "print('HEAVY', [m for m in ('torch', 'diffusers') if m in sys.modules]); sys.exit(rc)")
    cases = [(["--box", "1,2,3"], 1, "--box '1,2,3': expected 4 comma-separated numbers"),
             (["--point", "500,3"], 1, "point 0 (500, 3) is outside the 61x47 image"),
             (["--point", "25,20"], 0, "")]
    for extra, rc, message in cases:
        run = subprocess.run([sys.executable, "-c", code, "extract", str(png), *extra, "-o", str(tmp_path / "x")],
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == rc, run.stderr
        assert "HEAVY []" in run.stdout
        if message:
            assert message in run.stderr and run.stderr.count("\n") == 1
    assert (tmp_path / "x" / "design_extract.psd").is_file()


def test_extract_runs_every_method_of_the_default_model(png, tmp_path, capsys):
    assert main(["extract", str(png), "--point", "25,20", "--method", "regions", "-o", str(tmp_path / "r")]) == 0
    assert "extracted" in capsys.readouterr().out
    assert main(["extract", str(png), "--point", "25,20", "--model", "tiny-random", "--steps", "1",
                 "-o", str(tmp_path / "d")]) == 0
    assert (tmp_path / "d" / "design_extract.psd").is_file()


def test_batch_and_eval_do_not_load_torch_for_the_region_path(png, tmp_path):
    code = ("import sys; from layerdiff.cli import main; rc = main(sys.argv[1:]); "
            "print('HEAVY', [m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules]); sys.exit(rc)")
    batch = subprocess.run([sys.executable, "-c", code, "batch", str(png.parent), "-o", str(tmp_path / "b"),
                            "--workers", "0", "-q"], capture_output=True, text=True, timeout=300)
    assert batch.returncode == 0, batch.stderr
    assert "HEAVY []" in batch.stdout
    from layerdiff.io import save
    from layerdiff.layered import LayeredImage

    gt = np.zeros((2, 32, 32, 4), np.float32)
    gt[0] = (1, 1, 1, 1)
    gt[1, 8:24, 8:24] = (0.9, 0.1, 0.1, 1)
    (tmp_path / "gt").mkdir()
    save(LayeredImage.from_numpy(gt), tmp_path / "gt" / "a.ora")
    ev = subprocess.run([sys.executable, "-c", code, "eval", str(tmp_path / "gt"), "--models", DEFAULT_MODEL,
                         "-o", str(tmp_path / "e"), "--quiet"], capture_output=True, text=True, timeout=300)
    assert ev.returncode == 0, ev.stderr
    assert "HEAVY []" in ev.stdout
