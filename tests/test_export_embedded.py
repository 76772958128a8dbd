"""training/export_embedded.py: a trained folder becomes a preset's embedded half-precision weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from training import export_embedded, train_transformer
from training.common import RunConfig


def _trained(tmp_path: Path, size: int) -> Path:
    cfg = RunConfig(output_dir=str(tmp_path / f"tf{size}"), steps=1, batch_size=2, lr=1e-3, warmup_steps=1,
                    checkpoint_every=10, log_every=100, threads=0)
    cfg.extra = {"model": "tiny-random", "init": None, "vae": None, "stage": "generate_edit", "size": size,
                 "max_layers": 3, "psd_shards": None, "psd_fraction": 0.0}
    assert train_transformer.train(cfg) == 0
    return Path(cfg.output_dir) / "final"


def test_export_writes_half_precision_weights_that_load(tmp_path, monkeypatch):
    from layerdiff import registry
    from layerdiff.pipelines import LayerDecomposePipeline

    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path / "weights")  # never the package's own weights
    folder = _trained(tmp_path, registry.get_preset("layerdiff-tiny").native_resolution)
    assert export_embedded.main([str(folder), "--preset", "layerdiff-tiny", "--samples", "1"]) == 0
    target = tmp_path / "weights" / "layerdiff-tiny"
    weights = next((target / "transformer").glob("*.safetensors"))
    with safe_open(str(weights), "pt") as fh:
        assert {fh.get_tensor(k).dtype for k in fh.keys()} == {torch.float16}
    loaded = LayerDecomposePipeline.from_pretrained(target)
    assert loaded.native_resolution == 128
    assert not (folder.parent / "export-float16").exists()  # the scratch copy is gone


def test_export_refuses_a_model_trained_for_another_grid(tmp_path, monkeypatch):
    from layerdiff import registry

    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path / "weights")
    folder = _trained(tmp_path, 64)  # layerdiff-tiny runs at 128 px
    with pytest.raises(SystemExit, match="trained for a 64 px grid.*runs at 128 px"):
        export_embedded.main([str(folder), "--preset", "layerdiff-tiny"])
    assert not (tmp_path / "weights").exists()


def test_export_adds_a_half_precision_refiner(tmp_path, monkeypatch):
    from layerdiff import registry
    from layerdiff.models import LayerRefiner
    from layerdiff.pipelines import LayerGeneratePipeline

    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path / "weights")
    folder = _trained(tmp_path, registry.get_preset("layerdiff-tiny").native_resolution)
    torch.manual_seed(0)
    LayerRefiner(text_dim=32, widths=(8, 16), crop_size=16).save_pretrained(tmp_path / "refiner")
    assert export_embedded.main([str(folder), "--preset", "layerdiff-tiny", "--samples", "1",
                                 "--refiner", str(tmp_path / "refiner")]) == 0
    target = tmp_path / "weights" / "layerdiff-tiny"
    with safe_open(str(next((target / "refiner").glob("*.safetensors"))), "pt") as fh:
        assert {fh.get_tensor(k).dtype for k in fh.keys()} == {torch.float16}
    loaded = LayerGeneratePipeline.from_pretrained(target)
    assert isinstance(loaded.refiner, LayerRefiner) and loaded.refiner.config.widths == [8, 16]
