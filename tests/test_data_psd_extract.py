"""PSD extraction into training shards (Qwen-Image-Layered's recipe) and the extract-psd command."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import PSD_CORPUS, PSD_FILES

from layerdiff.cli import main
from layerdiff.data.datasets import ShardDataset
from layerdiff.data.psd_extract import (
    REPORT_NAME,
    _drop_no_effect,
    cap_layers,
    caption_from_name,
    extract_folder,
    extract_psd,
    premultiplied,
)
from layerdiff.data.shards import list_shards, read_shard
from layerdiff.data.synth_raster import composite_stack
from layerdiff.errors import LayeredFileError
from layerdiff.io import load

CORPUS = PSD_FILES  # committed psd-tools test files (tests/data/psd)
TOL = 2.0 / 255.0


def _reasons(result) -> list[str]:
    return [d["reason"] for d in result.dropped]


def _recomposition_error(result) -> float:
    stack = result.layers.to_numpy()
    return float(np.abs(premultiplied(composite_stack(stack)) - premultiplied(result.reference)).max())


def test_hidden_layer_is_dropped_and_stack_recomposes() -> None:
    r = extract_psd(CORPUS / "hidden-layer.psd")
    assert r.source_layers == 3 and r.num_layers == 2 and _reasons(r) == ["hidden"]
    assert r.max_error < TOL and _recomposition_error(r) < TOL
    assert r.layers.size == r.source_size == (100, 150)
    assert r.caption == "hidden layer" and len(r.layer_captions) == 2


def test_empty_layer_is_dropped() -> None:
    r = extract_psd(CORPUS / "empty-layer.psd")
    assert "empty" in _reasons(r) and r.num_layers == 2 and r.max_error < TOL


def test_layers_under_an_opaque_cover_do_not_change_the_composite() -> None:
    r = extract_psd(CORPUS / "16bit5x5.psb")  # "Background" lies under an opaque full-canvas copy
    assert _reasons(r) == ["no-effect"] and r.layer_captions == ["Background copy", "Background copy 2"]
    assert r.max_error < TOL


@pytest.mark.parametrize("name", ["blend-modes__color-burn.psd", "semi-transparent-layers.psd"])
def test_reference_is_the_loaded_documents_composite(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        doc = load(CORPUS / name).composite()
    r = extract_psd(CORPUS / name)
    assert np.abs(premultiplied(r.reference) - premultiplied(doc)).max() < 1e-5


def test_blend_modes_are_baked_into_normal_layers() -> None:
    r = extract_psd(CORPUS / "blend-modes__color-burn.psd")
    assert any(b["mode"] == "color_burn" for b in r.baked)
    assert all(layer.blend_mode == "normal" for layer in r.layers)
    assert r.max_error < TOL and _recomposition_error(r) < TOL


def test_max_layers_merges_adjacent_layers() -> None:
    r = extract_psd(CORPUS / "mask-density-vectormask.psd", max_layers=3)
    assert r.num_layers == 3 and len(r.merged) >= 1
    assert all(m["reason"] in ("no-overlap", "least-overlap") for m in r.merged)
    assert any(" + " in name for name in r.layer_captions) and "merged" in r.kinds
    assert r.max_error < TOL and _recomposition_error(r) < TOL
    report = r.report()
    assert report["kept"] == 3 and report["source_layers"] == r.source_layers
    json.dumps(report)  # JSON-ready


def test_resize_keeps_aspect_and_never_enlarges() -> None:
    r = extract_psd(CORPUS / "hidden-layer.psd", size=60)
    assert r.source_size == (100, 150) and r.layers.size == (40, 60)
    assert r.reference.shape == (60, 40, 4)
    assert r.max_error < TOL
    small = extract_psd(CORPUS / "hidden-layer.psd", size=512)  # never enlarged
    assert small.layers.size == (100, 150)


def test_unreadable_file_raises_layered_file_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.psd"
    bad.write_bytes(b"8BPS" + b"\x00" * 10)
    with pytest.raises(LayeredFileError, match="bad.psd"):
        extract_psd(bad)
    with pytest.raises(ValueError, match="max_layers"):
        extract_psd(CORPUS / "hidden-layer.psd", max_layers=0)


def _rect(h: int, w: int, box: tuple[int, int, int, int], rgba: tuple[float, ...]) -> np.ndarray:
    plane = np.zeros((h, w, 4), np.float32)
    x0, y0, x1, y1 = box
    plane[y0:y1, x0:x1] = rgba
    return plane


def test_cap_layers_merges_disjoint_pairs_first_and_exactly() -> None:
    h = w = 20
    planes = [np.ones((h, w, 4), np.float32),  # opaque background
              _rect(h, w, (0, 0, 4, 4), (1, 0, 0, 1)),  # small, disjoint from the next
              _rect(h, w, (10, 10, 14, 14), (0, 1, 0, 0.5)),
              _rect(h, w, (2, 2, 12, 12), (0, 0, 1, 0.7))]  # overlaps both
    names = ["bg", "red", "green", "blue"]
    out, groups, merges = cap_layers(planes, names, 3)
    assert groups == [[0], [1, 2], [3]] and merges == [{"names": ["red", "green"], "reason": "no-overlap"}]
    assert np.abs(composite_stack(np.stack(out)) - composite_stack(np.stack(planes))).max() < 1e-6
    out, groups, merges = cap_layers(planes, names, 1)
    assert groups == [[0, 1, 2, 3]] and merges[-1]["reason"] == "least-overlap"
    assert np.abs(composite_stack(np.stack(out)) - composite_stack(np.stack(planes))).max() < 1e-6


def test_drop_no_effect_keeps_visible_layers_only() -> None:
    h = w = 16
    planes = [np.ones((h, w, 4), np.float32),
              _rect(h, w, (0, 0, 8, 8), (1, 0, 0, 1)),  # fully covered by the next one
              _rect(h, w, (0, 0, 10, 10), (0, 0, 1, 1)),
              _rect(h, w, (12, 12, 16, 16), (0, 0, 0, 0.001)),  # too faint to matter
              _rect(h, w, (12, 0, 16, 4), (0, 1, 0, 1))]
    keep, dropped = _drop_no_effect(planes)
    assert keep == [0, 2, 4] and sorted(dropped) == [1, 3]


def test_caption_from_file_name() -> None:
    assert caption_from_name("blend-modes__color-burn.psd") == "blend modes color burn"
    assert caption_from_name("/x/layerComps_v2.psb") == "layer comps v2"


FILES = ["hidden-layer.psd", "empty-layer.psd", "mask-density-vectormask.psd"]


def _small_corpus(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    for name in FILES[:2]:
        shutil.copy(CORPUS / name, src / name)
    shutil.copy(CORPUS / FILES[2], src / "sub" / FILES[2])
    (src / "garbage.psd").write_bytes(b"this is not a psd")
    data = (CORPUS / "group.psd").read_bytes()
    (src / "truncated.psb").write_bytes(data[: len(data) // 3])
    return src


def test_extract_folder_writes_shards_and_a_report_and_survives_bad_files(tmp_path: Path) -> None:
    src, out = _small_corpus(tmp_path), tmp_path / "out"
    report = extract_folder(src, out, max_layers=4)
    assert report["files"] == 5 and report["extracted"] == 3 and report["failed"] == 2
    assert {f["reason"] for f in report["failures"]} <= {"not-an-image", "truncated", "corrupt"}
    assert all("garbage.psd" in f["error"] or "truncated.psb" in f["error"] for f in report["failures"])
    assert report["dropped_by_reason"]["hidden"] >= 1 and report["dropped_by_reason"]["empty"] >= 1
    assert report["max_error"] < TOL
    on_disk = json.loads((out / REPORT_NAME).read_text())
    assert on_disk["extracted"] == 3 and len(on_disk["per_file"]) == 3
    shards = list_shards(out)
    names = ["empty-layer_psd.npz", "hidden-layer_psd.npz", "sub_mask-density-vectormask_psd.npz"]
    assert [p.name for p in shards] == names
    record = read_shard(out / "sub_mask-density-vectormask_psd.npz")
    assert record.num_layers <= 4 and record.caption == "mask density vectormask"
    assert record.info["kept"] == record.num_layers
    stack = record.layers.astype(np.float32) / 255
    err = np.abs(premultiplied(composite_stack(stack)) - premultiplied(record.composite / 255.0)).max()
    assert err < 3.0 / 255  # 8-bit quantisation of layers and reference
    again = extract_folder(src, out, max_layers=4)  # resume: shards are read back, not rebuilt
    assert [e["kept"] for e in again["per_file"]] == [e["kept"] for e in report["per_file"]]
    assert [e["seconds"] for e in again["per_file"]] == [e["seconds"] for e in report["per_file"]]
    redone = extract_folder(src, out, max_layers=2, workers=2)  # other settings: extracted again
    assert max(e["kept"] for e in redone["per_file"]) == 2
    assert redone["failed"] == 2 and [e["shard"] for e in redone["per_file"]] == names
    ds = ShardDataset(out, size=32, max_layers=4)
    assert len(ds) == 3 and ds[2]["layers"].shape == (4, 4, 32, 32)


def test_extract_psd_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, out = _small_corpus(tmp_path), tmp_path / "cli-out"
    assert main(["extract-psd", str(src), "-o", str(out), "--max-layers", "3", "-q"]) == 0
    text = capsys.readouterr().out
    assert "3 of 5 files extracted, 2 failed" in text and "failed: " in text
    assert (out / REPORT_NAME).is_file() and len(list_shards(out)) == 3
    assert main(["extract-psd", str(tmp_path / "missing"), "-o", str(out)]) == 1


@pytest.mark.slow
@pytest.mark.psd_corpus
def test_extract_whole_corpus_without_crashing(tmp_path: Path) -> None:
    report = extract_folder(PSD_CORPUS, tmp_path, max_layers=8, size=128, workers=2)
    counts = {k: report[k] for k in ("files", "extracted", "failed", "failed_by_reason", "layers_in",
                                     "layers_kept", "dropped_by_reason", "merges_by_reason", "baked",
                                     "max_error", "seconds")}
    print(json.dumps(counts))
    assert report["files"] == len(list(PSD_CORPUS.glob("*.ps[db]")))
    assert report["extracted"] >= 0.8 * report["files"]
    assert report["max_error"] < TOL
    assert all(set(f) == {"file", "reason", "error"} for f in report["failures"])
