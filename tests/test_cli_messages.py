"""What a new user meets on the command line: a missing optional extra, bad sizes and prompts, an unknown
layer name, and no stray library warnings. Every error is one line on stderr with exit code 1."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import PSD_FILES, REPO

from layerdiff.cli import OPTIONAL_MODULES, main, missing_extra
from layerdiff.errors import LayerdiffError, LayeredFileError
from layerdiff.samples import sample_path

# Runs the CLI with some modules made unimportable (None in sys.modules), as if their extra were missing.
BLOCKED_RUN = """
import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
from layerdiff.cli import main
sys.exit(main(sys.argv[2:]))
"""


def run_without(modules: str, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKED_RUN, modules, *argv], capture_output=True, text=True,
                          timeout=300, cwd=REPO)


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    return lines[0]


# ---------------------------------------------------------------- missing optional extras
def test_eval_synthetic_without_the_data_extra_names_the_install_command(tmp_path: Path) -> None:
    # the synthetic designs' photo backgrounds come from scikit-image, their emoji from cairosvg
    proc = run_without("skimage,cairosvg", "eval", "--synthetic", "4", "--size", "64", "--models", "single-layer",
                       "-o", str(tmp_path / "eval"), "--quiet")
    assert proc.returncode == 1
    assert one_error_line(proc.stderr) == ("layerdiff eval: error: the data extra is not installed (no module "
                                           "'skimage' from scikit-image): pip install 'layerdiff[data]'")


def test_demo_without_the_demo_extra_names_the_install_command() -> None:
    proc = run_without("gradio,gradio_client", "demo", "--port", "0")
    assert proc.returncode == 1
    line = one_error_line(proc.stderr)
    assert line.startswith("layerdiff demo: error: ") and "pip install 'layerdiff[demo]'" in line


def test_reader_error_caused_by_a_missing_extra_adds_the_install_command() -> None:
    # Lab PSDs are converted to sRGB with scikit-image; the reader's own error gets the install hint appended
    path = PSD_FILES / "colormodes__4x4_8bit_lab.psd"
    proc = run_without("skimage", "info", str(path))
    assert proc.returncode == 1
    line = one_error_line(proc.stderr)
    assert line.startswith(f"layerdiff info: error: {path}: ")
    assert line.endswith("; the data extra is not installed (no module 'skimage' from scikit-image): "
                         "pip install 'layerdiff[data]'")


def test_an_error_that_already_names_the_install_command_gets_no_second_one(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(sample_path("poster.png").read_bytes())
    proc = run_without("ray", "batch", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--backend", "ray")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("layerdiff batch: error: ") and last.count("pip install 'layerdiff[batch]'") == 1


def test_missing_extra_follows_the_exception_chain() -> None:
    assert missing_extra(ModuleNotFoundError("No module named 'ray'", name="ray")) == (
        "the batch extra is not installed (no module 'ray' from ray): pip install 'layerdiff[batch]'")
    assert "layerdiff[demo]" in missing_extra(ModuleNotFoundError("x", name="gradio_client.utils"))
    try:
        try:
            raise ModuleNotFoundError("No module named 'cairosvg'", name="cairosvg")
        except ModuleNotFoundError:
            raise LayeredFileError("x.svg", "cannot render") from None  # context kept, cause suppressed
    except LayeredFileError as err:
        assert "pip install 'layerdiff[data]'" in missing_extra(err)
    assert "apt-get install libcairo2" in missing_extra(OSError("no library called \"cairo-2\" was found"))
    assert missing_extra(ModuleNotFoundError("No module named 'numpy'", name="numpy")) is None  # not optional
    assert missing_extra(OSError("disk full")) is None
    assert missing_extra(LayerdiffError("plain")) is None


def test_a_missing_required_module_is_not_disguised(monkeypatch: pytest.MonkeyPatch) -> None:
    import layerdiff.cli.info as info_cmd

    def broken(args: object) -> int:
        raise ModuleNotFoundError("No module named 'numpy'", name="numpy")

    monkeypatch.setattr(info_cmd, "run", broken)
    with pytest.raises(ModuleNotFoundError):
        main(["info", str(sample_path("poster.psd"))])


def test_optional_modules_match_the_extras_in_pyproject() -> None:
    text = (REPO / "pyproject.toml").read_text()
    section = text.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    extras = {m.group(1): m.group(2) for m in re.finditer(r"^(\w+) = \[(.*?)\]", section, re.M | re.S)}
    for module, (extra, dist) in OPTIONAL_MODULES.items():
        assert extra in extras, module
        assert re.search(rf'"{re.escape(dist)}[\[<>=,"]', extras[extra]), (module, extra, dist)


# ---------------------------------------------------------------- generate and edit arguments
EMPTY_PROMPT = "the prompt is empty: describe the image, e.g. layerdiff generate 'a red circle on blue'"


@pytest.mark.parametrize("argv, message", [
    (["a red circle", "--size", "0x0"], "--size '0x0': width and height must be positive, e.g. 512x384"),
    (["a red circle", "--size", "64x0"], "--size '64x0': width and height must be positive, e.g. 512x384"),
    (["a red circle", "--size", "big"], "--size 'big': expected WxH, e.g. 512x384"),
    (["", "--size", "64x64"], EMPTY_PROMPT),
    (["  "], EMPTY_PROMPT),
])
def test_generate_refuses_bad_sizes_and_empty_prompts(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      argv: list[str], message: str) -> None:
    assert main(["generate", *argv, "-o", str(tmp_path / "out")]) == 1
    assert one_error_line(capsys.readouterr().err) == f"layerdiff generate: error: {message}"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("op", ["move", "regenerate"])
def test_edit_unknown_layer_is_named_once(tmp_path: Path, capsys: pytest.CaptureFixture[str], op: str) -> None:
    poster = str(sample_path("poster.psd"))
    assert main(["edit", poster, "--layer", "Nope", "--op", op, "-o", str(tmp_path / "out")]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert line == (f"layerdiff edit: error: {poster}: no layer named 'Nope'; layers: "
                    "['Background', 'Sun', 'Panel shadow', 'Panel', 'Title', 'Subtitle']")
    assert main(["edit", poster, "--layer", "9", "--op", "move", "-o", str(tmp_path / "out")]) == 1
    assert one_error_line(capsys.readouterr().err) == (
        f"layerdiff edit: error: {poster}: layer index 9 out of range for 6 layers")
    assert not (tmp_path / "out").exists()


def test_edit_ops_api_reports_a_bad_layer_as_such() -> None:
    from layerdiff import edit_ops
    from layerdiff.io import load

    image = load(sample_path("poster.psd"))
    with pytest.raises(KeyError, match="no layer named 'Nope'") as info:
        edit_ops.apply(image, "Nope", "move", dx=1)
    assert "needs the argument" not in str(info.value)
    with pytest.raises(ValueError, match="operation 'scale' needs the argument 'factor'"):
        edit_ops.apply(image, "Sun", "scale")


# ---------------------------------------------------------------- no stray warnings
def test_text_encoder_loads_without_the_float32_warning(capfd: pytest.CaptureFixture[str]) -> None:
    from layerdiff.models.text_encoder import MiniLMTextEncoder

    capfd.readouterr()
    encoder = MiniLMTextEncoder.from_pretrained(None, torch_dtype=torch.float32)
    assert isinstance(encoder, MiniLMTextEncoder) and encoder.bert.dtype == torch.float32
    captured = capfd.readouterr()
    assert "should be kept in float32" not in captured.err + captured.out


def test_warnings_print_as_one_line(tmp_path: Path) -> None:
    """A warning during a command (here: the text extra blocked, so text lines are not kept whole) is one
    line naming the command, without Python's source-file line."""
    out = run_without("rapidocr_onnxruntime", "decompose", str(sample_path("poster.png")), "-o", str(tmp_path / "out"))
    assert out.returncode == 0, out.stderr
    warned = [line for line in out.stderr.splitlines() if "warning" in line.lower()]
    assert warned and all(line.startswith("layerdiff decompose: warning: ") for line in warned), out.stderr
    assert ".py:" not in out.stderr, out.stderr


def test_a_reader_that_leaves_early_gets_no_traceback() -> None:
    # `layerdiff models | head -1`: the pipe is closed before the command writes
    proc = subprocess.Popen([sys.executable, "-m", "layerdiff", "models"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()
    err = proc.stderr.read()
    proc.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipeError" not in err
    assert proc.returncode == 1
