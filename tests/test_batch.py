"""Batch decomposition of asset folders: discovery, manifest, restart after SIGKILL, bad files, crashes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import PSD_CORPUS
from PIL import Image

from layerdiff.batch import (
    ASSET_JSON,
    MANIFEST_NAME,
    RunManifest,
    fidelity,
    find_inputs,
    is_complete,
    latest_records,
    plan_tasks,
    read_manifest,
    run_batch,
)
from layerdiff.errors import LayerdiffError
from layerdiff.io import load, save
from layerdiff.layered import Layer, LayeredImage

REPO = Path(__file__).resolve().parents[1]
PLUGIN = f"{__name__}:register_test_presets"
CRASH_MARK = (1.0, 0.0, 1.0)  # a magenta top-left pixel makes the "test-crash" decomposer kill its process


# ------------------------------------------------------------------------- test-only decomposers
class SlowDecomposer:
    """Sleeps ``delay`` seconds (in small steps, so a timeout can stop it); returns the input as one layer."""

    delay = 0.4

    @classmethod
    def from_pretrained(cls, name: str, **kwargs: Any) -> SlowDecomposer:
        return cls()

    def decompose(self, image: np.ndarray, num_layers: int | str = "auto", *, max_layers: int | None = None,
                  seed: int | None = None, callback: Any = None, **options: Any) -> LayeredImage:
        end = time.monotonic() + self.delay
        while time.monotonic() < end:
            time.sleep(0.02)
        return LayeredImage.from_numpy(np.asarray(image)[None], names=["Image"])  # (1, H, W, 4)


class CrashDecomposer:
    """Kills its own process (as a segfault would) on an image marked with a magenta top-left pixel."""

    @classmethod
    def from_pretrained(cls, name: str, **kwargs: Any) -> CrashDecomposer:
        return cls()

    def decompose(self, image: np.ndarray, num_layers: int | str = "auto", *, max_layers: int | None = None,
                  seed: int | None = None, callback: Any = None, **options: Any) -> LayeredImage:
        if np.allclose(np.asarray(image)[0, 0, :3], CRASH_MARK, atol=1 / 255):
            os._exit(9)
        return LayeredImage.from_numpy(np.asarray(image)[None], names=["Image"])  # (1, H, W, 4)


def register_test_presets() -> None:
    """Plugin hook (``--plugin tests.test_batch:register_test_presets``): the two test decomposers."""
    from layerdiff.registry import ModelPreset, register

    for name, cls in (("test-slow", SlowDecomposer), ("test-crash", CrashDecomposer)):
        register(ModelPreset(name=name, kind="decomposer", description="test only",
                             tasks={"decompose": {"baseline": f"{__name__}:{cls.__name__}"}}, max_layers=1),
                 overwrite=True)


@pytest.fixture()
def test_presets() -> Any:
    """Registers the test decomposers for one test and removes them again afterwards."""
    from layerdiff import registry

    register_test_presets()
    yield PLUGIN
    for name in ("test-slow", "test-crash"):
        registry._REGISTRY.pop(name, None)


# ----------------------------------------------------------------------------------- helpers
def _png(path: Path, seed: int, size: tuple[int, int] = (24, 16), mark: bool = False) -> None:
    rgb = (np.random.default_rng(seed).random((size[1], size[0], 3)) * 255).astype(np.uint8)  # (H, W, 3)
    if mark:
        rgb[0, 0] = (255, 0, 255)
    else:
        rgb[0, 0] = (10, 200, 30)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb, "RGB").save(path)


def _layered_psd(path: Path) -> LayeredImage:
    """A 3-layer PSD: opaque background, a half-transparent square on an offset, a hidden layer."""
    bg = np.zeros((20, 32, 4), np.float32)
    bg[..., :3] = (0.2, 0.4, 0.8)
    bg[..., 3] = 1.0
    square = np.zeros((8, 10, 4), np.float32)
    square[..., :3] = (0.9, 0.1, 0.1)
    square[..., 3] = 0.5
    hidden = np.ones((20, 32, 4), np.float32)
    image = LayeredImage((32, 20), [Layer(bg, name="bg"), Layer(square, name="square", offset=(5, 4)),
                                    Layer(hidden, name="ghost", visible=False)])
    save(image, path)
    return image


def _assets(root: Path) -> None:
    _png(root / "a.png", 0)
    _png(root / "b" / "c.png", 1)
    _png(root / "b" / "d.jpg", 2)
    _layered_psd(root / "e.psd")
    (root / "broken.psd").write_bytes(b"8BPS\x00\x01 this is not a PSD")
    (root / "notes.txt").write_text("not an asset")
    _png(root / ".hidden" / "x.png", 3)


def _visible(out: Path, path: Path) -> bool:
    """Not a hidden temporary: no part of the path below ``out`` starts with '.' (``.x.part/...``, ``.x.old``)."""
    return not any(part.startswith(".") for part in path.relative_to(out).parts)


def _mtimes(out: Path) -> dict[str, int]:
    return {p.relative_to(out).as_posix(): p.stat().st_mtime_ns for p in out.rglob("*")
            if p.is_file() and p.name != MANIFEST_NAME and _visible(out, p)}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "tests"), env.get("PYTHONPATH", "")])
    return env


# ------------------------------------------------------------------------------------- tests
def test_find_inputs_sorted_filtered_and_output_names(tmp_path: Path) -> None:
    src = tmp_path / "in"
    _assets(src)
    _png(src / "a" / "inner.png", 4)  # a.png's output folder would hold a/inner's
    _png(src / "e.PNG", 5)  # same stem as e.psd
    _png(src / "out" / "old.png", 6)  # the output folder inside the input folder is not an input
    rels = [p.relative_to(src).as_posix() for p in find_inputs(src, exclude=[src / "out"])]
    assert rels == ["a.png", "a/inner.png", "b/c.png", "b/d.jpg", "broken.psd", "e.PNG", "e.psd"]
    names = {t.rel: t.out_rel for t in plan_tasks(src, src / "out")}
    assert names == {"a.png": "a_png", "a/inner.png": "a/inner", "b/c.png": "b/c", "b/d.jpg": "b/d",
                     "broken.psd": "broken", "e.PNG": "e_png", "e.psd": "e_psd"}
    assert [t.rel for t in plan_tasks(src, src / "out", limit=2)] == ["a.png", "a/inner.png"]


def test_manifest_tolerates_torn_line_and_locks(tmp_path: Path) -> None:
    with RunManifest(tmp_path) as manifest:
        manifest.append({"path": "a.png", "status": "done", "sha256": "x"})
        with pytest.raises(LayerdiffError, match="another layerdiff batch run"):
            RunManifest(tmp_path).open()
        with pytest.raises(ValueError, match="status"):
            manifest.append({"path": "b.png", "status": "maybe"})
    with open(tmp_path / MANIFEST_NAME, "ab") as fh:  # a write cut by kill -9
        fh.write(b'{"path": "b.png", "status": "do')
    assert [r["path"] for r in read_manifest(tmp_path / MANIFEST_NAME)] == ["a.png"]
    with RunManifest(tmp_path) as manifest:
        assert [r["path"] for r in manifest.records] == ["a.png"]
        manifest.append({"path": "b.png", "status": "failed", "reason": "corrupt"})
    lines = (tmp_path / MANIFEST_NAME).read_text().splitlines()
    assert [json.loads(line)["path"] for line in lines] == ["a.png", "b.png"]
    assert latest_records(read_manifest(tmp_path / MANIFEST_NAME))["b.png"]["reason"] == "corrupt"


def test_fidelity_is_premultiplied_psnr_and_max_error() -> None:
    a = np.zeros((4, 4, 4), np.float32)
    a[..., 3] = 1.0
    b = a.copy()
    assert fidelity(a, b) == {"psnr": 100.0, "max_error": 0.0}
    b[0, 0, 0] = 0.5  # one channel of one pixel off by 0.5: MSE = 0.25 / 64
    result = fidelity(a, b)
    assert result["max_error"] == 0.5
    assert result["psnr"] == pytest.approx(10 * np.log10(64 / 0.25), abs=1e-3)
    c, d = a.copy(), a.copy()
    c[..., 3] = d[..., 3] = 0.0
    d[..., :3] = 1.0  # colour under alpha 0 does not count
    assert fidelity(c, d)["max_error"] == 0.0


def test_batch_outputs_manifest_and_skip_on_rerun(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    _assets(src)
    summary = run_batch(src, out, model="single-layer", workers=0, progress=False)
    assert summary.counts == {"done": 4, "failed": 1, "skipped": 0}
    assert summary.exit_code == 1
    latest = latest_records(read_manifest(out / MANIFEST_NAME))
    assert set(latest) == {"a.png", "b/c.png", "b/d.jpg", "broken.psd", "e.psd"}
    bad = latest["broken.psd"]
    assert bad["status"] == "failed" and bad["reason"] in ("corrupt", "truncated")
    assert "\n" not in bad["error"]
    for rel, record in latest.items():
        assert len(record["sha256"]) == 64 and record["seconds"] >= 0
        if rel == "broken.psd":
            assert not (out / "broken").exists()
            continue
        folder = out / record["output"]
        info = json.loads((folder / ASSET_JSON).read_text())
        stem = Path(rel).stem
        assert info["input"] == rel and info["sha256"] == record["sha256"] and info["model"] == "single-layer"
        assert info["recomposition"] == {"psnr": 100.0, "max_error": 0.0}
        assert set(info["timings"]) == {"load", "decompose", "write"}
        assert (folder / f"{stem}.psd").is_file() and (folder / "png" / "manifest.json").is_file()
        flat = load(src / rel).composite()
        assert np.abs(load(folder / f"{stem}.psd").composite() - flat).max() <= 1 / 255 + 1e-6
        assert np.abs(load(folder / "png").composite() - flat).max() <= 1 / 255 + 1e-6
        assert is_complete(folder, record["sha256"], info["settings"])
    before = _mtimes(out)

    again = run_batch(src, out, model="single-layer", workers=0, progress=False)
    assert again.counts == {"done": 0, "failed": 1, "skipped": 4}
    assert _mtimes(out) == before
    assert not [p for p in out.rglob(".*") if p.name != ".layerdiff-batch.lock"]

    _png(src / "a.png", 99)  # new content: redone
    (out / "b" / "c" / "png" / "manifest.json").write_text("{}")  # damaged output: redone
    third = run_batch(src, out, model="single-layer", workers=0, progress=False)
    status = {r["path"]: r["status"] for r in third.records}
    assert status == {"a.png": "done", "b/c.png": "done", "b/d.jpg": "skipped", "broken.psd": "failed",
                      "e.psd": "skipped"}
    fourth = run_batch(src, out, model="single-layer", layers=1, workers=0, progress=False)
    assert fourth.counts["done"] == 4  # other settings: every asset redone


def test_per_layer_decomposes_each_visible_layer(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    source = _layered_psd(src / "poster.psd")
    summary = run_batch(src, out, model="single-layer", per_layer=True, workers=0, progress=False)
    assert summary.counts["done"] == 1
    info = json.loads((out / "poster" / ASSET_JSON).read_text())
    assert [p["name"] for p in info["per_layer"]] == ["bg", "square"]  # the hidden layer is kept, not split
    assert info["settings"]["per_layer"] is True
    assert [lay["name"] for lay in info["layers"]] == ["bg / Image", "square / Image", "ghost"]
    assert info["layers"][1]["offset"] == [5, 4]
    for part in info["per_layer"]:
        assert part["recomposition"]["max_error"] <= 1e-6
        assert (out / "poster" / part["output"] / "png" / "manifest.json").is_file()
    result = load(out / "poster" / "poster.psd")
    assert np.abs(result.composite() - source.composite()).max() <= 1 / 255 + 1e-6
    assert info["recomposition"]["max_error"] <= 1e-6


def test_timeout_and_unknown_model(tmp_path: Path, test_presets: str) -> None:
    src = tmp_path / "in"
    _png(src / "a.png", 0)
    summary = run_batch(src, tmp_path / "out", model="test-slow", plugins=[test_presets], timeout=0.15,
                        workers=0, progress=False)
    (record,) = summary.records
    assert record["status"] == "failed" and record["reason"] == "timeout" and record["seconds"] < 0.4
    assert not (tmp_path / "out" / "a").exists()
    with pytest.raises(LayerdiffError, match="known models"):
        run_batch(src, tmp_path / "out2", model="no-such-model", workers=0, progress=False)
    with pytest.raises(LayerdiffError, match="must not be the input folder"):
        run_batch(src, src, model="single-layer", workers=0, progress=False)


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from layerdiff.cli import main

    src = tmp_path / "in"
    _png(src / "a.png", 0)
    assert main(["batch", str(src), "-o", str(tmp_path / "out"), "--model", "single-layer", "--workers", "0",
                 "-q"]) == 0
    assert "1 done, 0 failed, 0 skipped" in capsys.readouterr().out
    (src / "z.tif").write_bytes(b"II*\x00 broken tiff")
    assert main(["batch", str(src), "-o", str(tmp_path / "out"), "--model", "single-layer", "--workers", "0",
                 "-q"]) == 1
    assert "0 done, 1 failed, 1 skipped" in capsys.readouterr().out
    assert main(["batch", str(src), "-o", str(tmp_path / "out"), "--layers", "zero", "-q"]) == 1


@pytest.mark.slow
def test_worker_crash_costs_only_its_asset(tmp_path: Path, test_presets: str) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    _png(src / "a.png", 0)
    _png(src / "b.png", 1, mark=True)
    _png(src / "c.png", 2)
    summary = run_batch(src, out, model="test-crash", plugins=[test_presets], workers=2, progress=False)
    status = {r["path"]: (r["status"], r.get("reason")) for r in summary.records}
    assert status == {"a.png": ("done", None), "b.png": ("failed", "crashed"), "c.png": ("done", None)}


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_loses_and_redoes_nothing(tmp_path: Path) -> None:
    """Run the CLI in a subprocess, SIGKILL it mid-run, rerun: all done, none redone, all valid."""
    src, out = tmp_path / "in", tmp_path / "out"
    for i in range(8):
        _png(src / f"set{i % 2}" / f"asset{i}.png", i)
    cmd = [sys.executable, "-m", "layerdiff", "batch", str(src), "-o", str(out), "--model", "test-slow",
           "--plugin", PLUGIN, "--workers", "1", "-q"]
    proc = subprocess.Popen(cmd, env=_env(), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if len(read_manifest(out / MANIFEST_NAME)) >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode()
    time.sleep(0.2)  # land somewhere inside the next asset
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.6)  # the orphaned worker notices its parent is gone and exits
    first = read_manifest(out / MANIFEST_NAME)
    done_first = {r["path"]: r for r in first if r["status"] == "done"}
    assert 3 <= len(done_first) < 8
    for record in done_first.values():  # finished outputs are complete under their final names
        assert is_complete(out / record["output"], record["sha256"], json.loads(
            (out / record["output"] / ASSET_JSON).read_text())["settings"])
    # (a kill can land after asset.json is written into the hidden .part folder, before its rename)
    finished_before = [p.parent.relative_to(out).as_posix() for p in out.rglob(ASSET_JSON) if _visible(out, p)]
    files_before = _mtimes(out)
    with open(out / MANIFEST_NAME, "ab") as fh:  # as if the kill had cut a manifest line in half
        fh.write(b'{"path": "set1/asset7.png", "sta')

    rerun = subprocess.run(cmd, env=_env(), cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    records = read_manifest(out / MANIFEST_NAME)
    second = [r for r in records if r["run"] != first[0]["run"]]
    assert sorted(r["path"] for r in second) == sorted(f"set{i % 2}/asset{i}.png" for i in range(8))
    by_path = {r["path"]: r for r in second}
    for path in finished_before:  # every folder finished before the kill (recorded or not): skipped
        record = next(r for r in second if r["output"] == path)
        assert record["status"] == "skipped", record
    assert all(by_path[p]["status"] == "skipped" for p in done_first)
    assert sum(r["status"] == "done" for r in second) == 8 - len(finished_before)
    after = _mtimes(out)
    assert {k: after[k] for k in files_before} == files_before  # nothing finished was rewritten
    for record in second:
        folder = out / record["output"]
        info = json.loads((folder / ASSET_JSON).read_text())
        assert is_complete(folder, record["sha256"], info["settings"])
        assert np.abs(load(folder / "png").composite() - load(src / record["path"]).composite()).max() < 1e-6
    assert not [p for p in out.rglob("*") if p.name.endswith(".part") or p.name.endswith(".old")]


@pytest.mark.slow
@pytest.mark.psd_corpus
def test_psd_corpus_batch_survives_every_file(tmp_path: Path) -> None:
    """The whole psd-tools corpus (204 files) through the batch: nothing stops it, every input recorded."""
    summary = run_batch(PSD_CORPUS, tmp_path / "out", model="single-layer", workers=2, timeout=20,
                        progress=False)
    counts = summary.counts
    print(f"psd-corpus: {counts}, failures by reason: {dict(summary.failures)}, {summary.seconds:.1f} s, "
          f"{summary.assets_per_minute():.1f} assets/min")
    inputs = find_inputs(PSD_CORPUS)
    assert len(inputs) == 204
    assert counts["done"] + counts["failed"] == 204 and counts["skipped"] == 0
    assert counts["done"] >= 190
    assert summary.exit_code == (1 if counts["failed"] else 0)
    for record in summary.records:
        if record["status"] == "failed":
            assert record["reason"] and record["error"] and "\n" not in record["error"]
        else:
            assert record["psnr"] >= 99.0
