"""benchmarks/bench_generate.py --oracle: the generation check's ceilings (true layers, mismatched captions,
true layers through an autoencoder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench_scripts import load_benchmark


def _script():
    return load_benchmark("bench_generate")


def test_oracle_scores_true_layers_and_their_autoencoder_roundtrip(tmp_path: Path):
    out = tmp_path / "oracle.json"
    assert _script().main(["--oracle", "--autoencoder", "tiny-random", "--count", "6", "--seed", "777",
                           "--size", "64", "--threads", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    coded = result["through_autoencoder"]
    assert coded["model"] == "tiny-random"
    # the same named layers are scored three ways
    assert coded["colour_n"] == result["colour_n"] > 0 and coded["shape_n"] == result["shape_n"]
    assert result["colour_rate"] >= 0.8  # true layers carry their named colours
    # tiny-random's unfitted patch autoencoder is the identity on 2x2 patches: the roundtrip keeps the colours
    assert coded["colour_rate"] == pytest.approx(result["colour_rate"], abs=0.05)
    # the shape figure split by the named shape's class adds up to it
    classes = result["shape_by_class"]
    assert set(classes) <= {"round", "box", "pointy", "hollow"}
    assert sum(v["n"] for v in classes.values()) == result["shape_n"]
    assert sum(v["rate"] * v["n"] for v in classes.values()) == pytest.approx(result["shape_rate"] * result["shape_n"])
    # median outlines per named class: every true named layer is measured; true boxes fill their rectangle
    outlines = result["outline_by_class"]
    assert set(outlines) == {"true layers", "through the autoencoder"}
    true = outlines["true layers"]
    assert sum(v["n"] for v in true.values()) == result["shape_n"]
    assert all(v["fill"] > 0.85 for c, v in true.items() if c == "box")
    assert all(v["hole"] > 0.07 for c, v in true.items() if c == "hollow")


def test_generation_mode_scores_both_prompt_modes_edits_and_outlines(tmp_path: Path):
    out = tmp_path / "gen.json"
    assert _script().main(["--model", "tiny-random", "--count", "2", "--seed", "777", "--steps", "2",
                           "--threads", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    for mode in ("caption", "caption + layer prompts"):
        assert result[mode]["colour_n"] > 0
    assert result["regenerate_others_bit_identical"] == 1.0
    assert result["insert_alpha_mass_inside_box"] >= result["insert_drawn_mass_inside_box"]
    outlines = result["outline_by_class"]
    assert set(outlines) == {"caption", "caption + layer prompts", "true layers"}
    assert sum(v["n"] for v in outlines["true layers"].values()) == result["caption"]["shape_n"]


def test_autoencoder_needs_oracle():
    with pytest.raises(SystemExit):
        _script().main(["--autoencoder", "tiny-random", "--count", "1"])


def test_a_given_refiner_is_scored_and_no_refine_turns_it_off(tmp_path: Path):
    import torch

    from layerdiff.models import LayerRefiner

    torch.manual_seed(0)
    refiner = LayerRefiner(text_dim=32, widths=(8, 16), crop_size=16)
    with torch.no_grad():
        refiner.head.bias.fill_(3.0)  # draws a lot: refined layers differ from decoded ones
    refiner.save_pretrained(tmp_path / "refiner")
    args = ["--model", "tiny-random", "--count", "2", "--seed", "777", "--steps", "1", "--threads", "1",
            "--refiner", str(tmp_path / "refiner")]
    results = []
    for extra in ([], ["--no-refine"]):
        out = tmp_path / f"gen{len(results)}.json"
        assert _script().main([*args, *extra, "--json", str(out)]) == 0
        results.append(json.loads(out.read_text()))
    on, off = results
    assert on["refine"] is True and off["refine"] is False and on["refiner"] == str(tmp_path / "refiner")
    assert on["regenerate_others_bit_identical"] == 1.0
    mode = "caption + layer prompts"  # the caption alone names no layer: nothing is refined
    assert on["outline_by_class"][mode] != off["outline_by_class"][mode]  # the refiner really ran
    assert on["outline_by_class"]["caption"] == off["outline_by_class"]["caption"]
