"""The evaluation harness and ``layerdiff eval`` on a folder of PNG-folder stacks built here."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from layerdiff.cli import main
from layerdiff.eval.harness import folder_samples, markdown_table, run_eval
from layerdiff.io import save
from layerdiff.layered import LayeredImage


def _stack(seed: int, size: int = 48) -> LayeredImage:
    """Background + two boxes of random colours, the second overlapping the first."""
    rng = np.random.default_rng(seed)
    layers = np.zeros((3, size, size, 4), np.float32)
    layers[..., :3] = rng.random((3, 1, 1, 3))
    layers[0, ..., 3] = 1.0
    layers[1, 8:30, 6:28, 3] = 1.0
    layers[2, 20:40, 20:44, 3] = 1.0
    return LayeredImage.from_numpy(layers)


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    root = tmp_path / "gt"
    root.mkdir()
    save(_stack(1), root / "a.png-dir")
    save(_stack(2), root / "b.ora")
    (root / "c.psd").write_bytes(b"not a psd at all")  # a broken file: reported, not fatal
    (root / "notes.txt").write_text("ignored")
    return root


def test_run_eval_writes_rows_summary_and_survives_a_bad_file(data_dir: Path, tmp_path: Path):
    samples = folder_samples(data_dir)
    assert [s.name for s in samples] == ["a.png-dir", "b.ora", "c.psd"]
    out = tmp_path / "out"
    report = run_eval(samples, ["single-layer", "cluster-matting"], out)
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert len(rows) == 6
    bad = [r for r in rows if r["sample"] == "c.psd"]
    assert len(bad) == 2 and all(r["error"].startswith("load:") for r in bad)
    by_model = {e["model"]: e for e in report.summary}
    # the cluster decomposer finds the three layers of these flat stacks; one layer cannot
    assert by_model["cluster-matting"]["iou@0"] > 0.95 and by_model["cluster-matting"]["count_error"] == 0
    assert by_model["single-layer"]["iou@0"] < 0.8
    assert by_model["single-layer"]["psnr"] == pytest.approx(100.0)
    assert by_model["cluster-matting"]["psnr"] > 48.0  # within half an 8-bit step per channel
    assert by_model["cluster-matting"]["errors"] == 1 and by_model["cluster-matting"]["samples"] == 2
    text = (out / "summary.md").read_text()
    assert "| cluster-matting | 2/2 (1 failed) |" in text and "L1@5" in text
    assert json.loads((out / "summary.json").read_text())[0]["model"] == "single-layer"


def test_gt_layer_count_mode_asks_for_the_gt_count(data_dir: Path, tmp_path: Path):
    calls = []

    class Recorder:
        name = "recorder"

        def decompose(self, image, num_layers="auto"):
            calls.append(num_layers)
            arr = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
            return LayeredImage.from_numpy(arr[None])

    run_eval(folder_samples(data_dir, limit=2), {"recorder": Recorder()}, tmp_path / "o", num_layers="gt")
    assert calls == [3, 3]


def test_gt_mode_scores_deeper_stacks_with_the_model_limit_and_says_so(data_dir: Path, tmp_path: Path):
    """single-layer makes at most one layer: the 3-layer ground truths are scored with one, and the rows,
    the log and the summary table say so (instead of an error per sample)."""
    logged: list[str] = []
    report = run_eval(folder_samples(data_dir), ["single-layer"], tmp_path / "o", num_layers="gt",
                      log=logged.append)
    ran = [r for r in report.rows if not r["error"]]
    assert len(ran) == 2 and all(r["capped"] and r["num_pred"] == 1 for r in ran)
    assert sum("3 true layers, more than the model's limit; asked for 1" in line for line in logged) == 2
    assert report.summary[0]["capped"] == 2 and report.summary[0]["errors"] == 1  # the broken file only
    note = "single-layer: 2 sample(s) have more true layers than the model makes; scored with its layer limit."
    assert note in markdown_table(report.summary)
    assert note in (tmp_path / "o" / "summary.md").read_text()
    rows = list(csv.DictReader(open(tmp_path / "o" / "results.csv")))
    assert [r["capped"] for r in rows if not r["error"]] == ["True", "True"]


def test_markdown_table_shows_missing_values_as_na():
    summary = [{"model": "m", "samples": 0, "scored": 0, "errors": 2, "psnr": float("nan"),
                "count_error": float("nan"), "seconds": float("nan"),
                **{f"{k}@{i}": float("nan") for k in ("l1", "iou") for i in range(6)}}]
    assert "| m | 0/0 (2 failed) | n/a |" in markdown_table(summary)


def test_cli_eval(data_dir: Path, tmp_path: Path, capsys):
    out = tmp_path / "cli"
    code = main(["eval", str(data_dir), "--models", "single-layer,cluster-matting", "-o", str(out),
                 "--limit", "2", "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert printed.startswith("| model |") and "cluster-matting" in printed
    assert (out / "results.csv").exists()
    # a failing sample makes the exit code 1 but still writes the results
    assert main(["eval", str(data_dir), "--models", "single-layer", "-o", str(out), "--quiet"]) == 1


def test_cli_eval_errors(data_dir: Path, tmp_path: Path, capsys):
    assert main(["eval", str(data_dir), "--models", "no-such-model", "-o", str(tmp_path / "x")]) == 1
    assert "known models" in capsys.readouterr().err
    assert main(["eval", "--models", "single-layer", "-o", str(tmp_path / "x")]) == 1
    assert "DATA or --synthetic" in capsys.readouterr().err
    missing = str(tmp_path / "missing")
    assert main(["eval", missing, "--models", "single-layer", "-o", str(tmp_path / "x")]) == 1
    assert "not a folder" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_eval_on_synthetic_designs(tmp_path: Path, capsys):
    code = main(["eval", "--synthetic", "2", "--size", "64", "--models", "single-layer,cluster-matting",
                 "-o", str(tmp_path / "syn"), "--quiet"])
    assert code == 0
    rows = list(csv.DictReader(open(tmp_path / "syn" / "results.csv")))
    assert len(rows) == 4 and all(r["sample"].startswith("synthetic-") for r in rows)


def test_cli_eval_on_synthetic_designs_says_when_the_emoji_folder_is_missing(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("LAYERDIFF_EMOJI_DIR", str(tmp_path / "absent"))
    code = main(["eval", "--synthetic", "1", "--size", "64", "--models", "single-layer", "-o", str(tmp_path / "syn"),
                 "--quiet"])
    assert code == 0
    err = capsys.readouterr().err
    assert f"no emoji folder at {tmp_path / 'absent'}" in err and "not those of BENCHMARKS.md" in err
