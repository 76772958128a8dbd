"""CLI subcommands that run models: decompose, generate, edit; --help everywhere; one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from layerdiff.cli import SUBCOMMANDS, build_parser, main
from layerdiff.io import load


@pytest.fixture()
def poster(tmp_path: Path, design) -> Path:
    path = tmp_path / "design.png"
    Image.fromarray((design * 255).round().astype(np.uint8)).save(path)
    return path


def test_every_subcommand_has_help(capsys):
    parser = build_parser()
    names = [a for a in parser._subparsers._group_actions[0].choices]  # noqa: SLF001
    assert set(names) >= {"info", "convert", "models", "decompose", "generate", "edit", "extract", "batch",
                          "eval", "extract-psd", "demo"}
    assert len(SUBCOMMANDS) == 11
    for name in names:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0
        assert "usage: layerdiff" in capsys.readouterr().out


@pytest.mark.parametrize("model", ["tiny-random", "single-layer", "cluster-matting"])
def test_decompose_writes_psd_and_png_layers(poster, tmp_path, capsys, model):
    out = tmp_path / "out"
    steps = ["--steps", "2"] if model == "tiny-random" else []  # sampling steps: diffusion models only
    assert main(["decompose", str(poster), "--model", model, "--layers", "2" if model != "single-layer" else "1",
                 *steps, "-o", str(out)]) == 0
    psd = load(out / "design.psd")
    pngs = load(out / "png")
    assert len(psd) == len(pngs) >= 1 and psd.size == (61, 47)
    np.testing.assert_array_equal((psd.composite()[..., :3] * 255).round(),
                                  (pngs.composite()[..., :3] * 255).round())
    src = np.asarray(Image.open(poster).convert("RGB")).astype(int)
    assert np.abs((psd.composite()[..., :3] * 255).round().astype(int) - src).max() <= 1
    assert "layers in" in capsys.readouterr().out


def test_decompose_bad_input_is_one_line(tmp_path, capsys):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    assert main(["decompose", str(bad), "--model", "tiny-random", "-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "broken.png" in err[0]
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
    assert main(["decompose", str(tmp_path / "design.png"), "--layers", "zero", "--model", "tiny-random"]) == 1


def test_generate_and_edit(tmp_path, capsys):
    out = tmp_path / "gen"
    assert main(["generate", "a red circle on a blue background", "--model", "tiny-random", "--layers", "2",
                 "--steps", "2", "--size", "48x32", "-o", str(out), "--formats", "psd,ora"]) == 0
    stack = load(out / "generated.psd")
    assert len(stack) == 2 and stack.size == (48, 32)
    edited = tmp_path / "edited"
    assert main(["edit", str(out / "generated.ora"), "--layer", "1", "--op", "move", "--dx", "3",
                 "-o", str(edited)]) == 0
    moved = load(edited / "generated_edited.psd")
    assert len(moved) == 2
    assert main(["edit", str(out / "generated.ora"), "--layer", "1", "--op", "regenerate", "--prompt", "a star",
                 "--model", "tiny-random", "--steps", "2", "-o", str(tmp_path / "regen")]) == 0
    assert main(["edit", str(out / "generated.ora"), "--layer", "7", "--op", "hide"]) == 1
    assert "out of range" in capsys.readouterr().err


def test_generate_layer_prompts(tmp_path, capsys):
    args = ["generate", "a poster", "--model", "tiny-random", "--layers", "2", "--steps", "2", "--formats", "png",
            "--no-plan"]  # the model on the whole caption (without layer prompts the CLI plans the caption)
    assert main([*args, "-o", str(tmp_path / "a")]) == 0
    assert main([*args, "--layer-prompt", "a navy background", "--layer-prompt", "a red circle",
                 "-o", str(tmp_path / "b")]) == 0
    a = sorted((tmp_path / "a").rglob("*.png"))
    b = sorted((tmp_path / "b").rglob("*.png"))
    assert len(a) == len(b) >= 2 and any(x.read_bytes() != y.read_bytes() for x, y in zip(a, b))
    assert main([*args, "--layer-prompt", "a", "--layer-prompt", "b", "--layer-prompt", "c",
                 "-o", str(tmp_path / "c")]) == 1
    assert "3 layer prompts for 2 layers" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["generate", "edit"])
def test_refine_flags_reach_the_pipeline(tmp_path, monkeypatch, command):
    """``--no-refine`` turns the layer refiner off; without it the pipelines refine (their default);
    ``--refine-passes`` sets how many passes the refiner makes."""
    from layerdiff.pipelines import LayerEditPipeline, LayerGeneratePipeline

    cls = LayerGeneratePipeline if command == "generate" else LayerEditPipeline
    seen = []
    original = cls.__call__

    def spy(self, *args, **kwargs):
        seen.append((kwargs.get("refine", True), kwargs.get("refine_passes")))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "__call__", spy)
    gen = ["generate", "a red circle", "--model", "tiny-random", "--layers", "2", "--steps", "1",
           "--formats", "ora", "-o", str(tmp_path / "g")]
    if command == "generate":
        runs = [gen, [*gen, "--no-refine", "--refine-passes", "3"]]
    else:
        assert main(gen) == 0
        edit = ["edit", str(tmp_path / "g" / "generated.ora"), "--layer", "1", "--op", "regenerate", "--prompt",
                "a star", "--model", "tiny-random", "--steps", "1", "-o", str(tmp_path / "e")]
        runs = [edit, [*edit, "--no-refine", "--refine-passes", "3"]]
    for argv in runs:
        assert main(argv) == 0
    assert seen == [(True, None), (False, 3)]
