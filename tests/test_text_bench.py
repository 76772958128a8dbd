"""benchmarks/bench_text.py: its posters carry exact truth, and its scoring counts what it says it counts."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from bench_scripts import load_benchmark

bench = load_benchmark("bench_text")


@pytest.fixture(scope="module")
def faces():
    found = bench.poster_faces(bench.BUILD_FAMILIES)
    assert found, "no DejaVu/Liberation fonts installed"
    return found


def test_posters_are_seeded_and_carry_their_truth(faces):
    for index in range(4):
        poster = bench.make_poster(5, index, faces)
        again = bench.make_poster(5, index, faces)
        assert np.array_equal(poster["image"], again["image"])
        assert poster["kind"] == bench.KINDS[index % 4]
        h, w = poster["image"].shape[:2]
        assert 560 <= w <= 800 and 380 <= h <= 600
        assert 1 <= len(poster["blocks"]) <= 2
        for block in poster["blocks"]:
            assert 1 <= len(block.lines) <= 3 and 24 <= block.font_size <= 96
            assert block.font_family in bench.BUILD_FAMILIES
            for line in block.lines:
                x0, y0, x1, y1 = line.box
                assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h and y0 < line.baseline <= y1 + 1
                # the text colour really is on the poster inside the line's box
                crop = poster["image"][y0:y1, x0:x1] * 255  # (h, w, 3)
                assert np.abs(crop - np.asarray(block.color)).sum(-1).min() < 3


def test_scoring_of_a_perfect_and_a_wrong_reading(faces):
    poster = bench.make_poster(5, 0, faces)
    perfect = bench.score_poster(poster, poster["blocks"], poster["blocks"])
    assert perfect and all(r["read"] and r["colour_ok"] and r["size_ok"] and r["family_ok"] for r in perfect)
    wrong = copy.deepcopy(poster["blocks"])
    for block in wrong:
        block.color = tuple(255 - c for c in block.color)
        block.font_size *= 1.5
        block.font_family = "Nimbus Sans" if block.font_family == "Liberation Sans" else "Elsewhere"
        for line in block.lines:
            line.text = "x" + line.text[1:] + "yz"
    rows = bench.score_poster(poster, wrong, [])
    assert not any(r["read"] or r["colour_ok"] or r["size_ok"] or r["family_ok"] for r in rows)
    assert not any(r["generic_unseen_ok"] for r in rows) and all(r["found"] for r in rows)
    assert bench.char_accuracy("GRAND  OPENING", "GRAND OPENING") == 1.0
    assert bench.char_accuracy("GRANDOPENING", "GRAND OPENING") == pytest.approx(1 - 1 / 13)
    assert "| all | 1 |" in bench.table(perfect, [{"kind": poster["kind"], "seconds": 1.0}])


def test_speed_posters_are_512_px_and_the_table_lists_each():
    posters = bench.speed_posters(5, 2)
    assert [name.split(" (")[0] for name, _ in posters] == ["bundled poster", "poster 0", "poster 1"]
    for _, image in posters:
        assert max(image.shape[:2]) == 512 and image.shape[2] == 3 and 0.0 <= image.min() <= image.max() <= 1.0
    rows = [{"poster": "p", "decompose_s": 2.0, "with_text_s": 2.2, "added_s": 0.2, "ratio": 1.1,
             "text_layers": ["SUMMER\nSALE"]}]
    table = bench.speed_table(rows)
    assert "| p | 2.00 | 2.20 | 0.20 | 1.100 | SUMMER / SALE |" in table.splitlines()


def test_speed_times_the_decomposition_with_and_without_text():
    (row,) = bench.speed(5, 0, rounds=1)
    assert row["poster"] == "bundled poster" and row["decompose_s"] > 0 and row["with_text_s"] > 0
    assert row["ratio"] == pytest.approx(row["with_text_s"] / row["decompose_s"])
    assert all(isinstance(t, str) and t for t in row["text_layers"])
