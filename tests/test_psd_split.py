"""benchmarks/bench_psd.py: the validation / test halves of the scored PSD files (issue 28 item 1)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from bench_scripts import load_benchmark

REPO = Path(__file__).resolve().parents[1]
PSD_DATA = REPO / "tests" / "data" / "psd"


def _bench():
    return load_benchmark("bench_psd")


def test_halves_are_fixed_disjoint_and_cover_the_files() -> None:
    bench = _bench()
    names = [f"file{i:03d}.psd" for i in range(121)]
    a = bench.halves(names)
    assert a == bench.halves(list(reversed(names))) == bench.halves(names, 2818)  # input order does not matter
    assert len(a["validation"]) == 61 and len(a["test"]) == 60
    assert not set(a["validation"]) & set(a["test"])
    assert sorted(a["validation"] + a["test"]) == names
    assert a["validation"] == sorted(a["validation"]) and a["test"] == sorted(a["test"])
    assert bench.halves(names, 1) != a
    # a shuffle, not the even / odd or first / second halves of the sorted names
    assert a["validation"] not in (names[:61], names[::2])


def test_halves_of_known_names_are_pinned() -> None:
    bench = _bench()
    names = ["a.psd", "b.psd", "c.psd", "d.psd", "e.psd", "f.psd"]
    order = [names[int(k)] for k in np.random.default_rng(2818).permutation(6)]
    assert bench.halves(names) == {"validation": sorted(order[:3]), "test": sorted(order[3:])}


def test_split_runs_one_half_of_the_scored_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bench = _bench()
    from layerdiff.eval.harness import folder_samples

    scored = bench.scored_names(folder_samples(PSD_DATA))
    assert "2layers.psd" in scored and "1layer.psd" not in scored  # one layer: run, never scored
    listed = tmp_path / "list"
    assert bench.main([str(PSD_DATA), "--list", "-o", str(listed)]) == 0
    cut = json.loads((listed / "run.json").read_text())["halves"]
    assert cut == bench.halves(scored)
    assert f"validation ({len(cut['validation'])}): " in capsys.readouterr().out
    out = tmp_path / "out"
    argv = [str(PSD_DATA), "-o", str(out), "--models", "single-layer", "--num-layers", "gt", "--quiet",
            "--split", "test", "--split-from", str(listed / "run.json")]
    assert bench.main(argv) == 0
    import csv

    with open(out / "gt" / "results.csv", newline="") as fh:
        ran = sorted(r["sample"] for r in csv.DictReader(fh))
    assert ran == cut["test"]
    assert json.loads((out / "run.json").read_text())["split"] == "test"


def test_split_from_a_file_without_halves_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bench = _bench()
    bad = tmp_path / "run.json"
    bad.write_text('{"commit": "x"}\n')
    assert bench.main([str(PSD_DATA), "-o", str(tmp_path / "o"), "--split", "validation",
                       "--split-from", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"bench_psd: {bad}: no halves") and "\n" not in err
