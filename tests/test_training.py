"""Training scripts: one step of every stage, loss goes down on a fixed batch, exact resume."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from training import train_transformer, train_vae
from training.common import RunConfig
from training.tasks import STAGES, build_batch


def _losses(run_dir: Path, column: str = "loss") -> list[float]:
    with (run_dir / "loss.csv").open() as fh:
        return [float(r[column]) for r in csv.DictReader(fh)]


def _tf_cfg(tmp_path: Path, stage: str, steps: int, **kw) -> RunConfig:
    cfg = RunConfig(output_dir=str(tmp_path / f"tf-{stage}"), steps=steps, batch_size=2, lr=1e-3,
                    warmup_steps=1, checkpoint_every=2, log_every=100, threads=0)
    cfg.extra = {"model": "tiny-random", "init": None, "vae": None, "stage": stage, "size": 64,
                 "max_layers": 4, "psd_shards": None, "psd_fraction": 0.0}
    return replace(cfg, **kw)


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_one_step_of_every_stage(tmp_path, stage):
    cfg = _tf_cfg(tmp_path, stage, steps=1)
    assert train_transformer.train(cfg) == 0
    run = Path(cfg.output_dir)
    assert len(_losses(run)) == 1 and np.isfinite(_losses(run)[0])
    assert (run / "final" / "model_index.json").is_file()
    assert (run / "checkpoint-0000001" / "state.json").is_file()


def test_the_training_size_becomes_the_saved_native_resolution(tmp_path):
    """A model trained at 64 px runs on a 64 px grid; continued (--init) at 48 px, on a 48 px grid."""
    import json

    first = _tf_cfg(tmp_path, "generate_edit", steps=1)
    train_transformer.train(first)
    final = Path(first.output_dir) / "final"
    assert json.loads((final / "settings" / "config.json").read_text())["native_resolution"] == 64
    second = replace(first, output_dir=str(tmp_path / "continued"))
    second.extra = {**first.extra, "init": str(final), "size": 48}
    train_transformer.train(second)
    settings = json.loads((Path(second.output_dir) / "final" / "settings" / "config.json").read_text())
    assert settings["native_resolution"] == 48


def test_vae_one_step_and_export(tmp_path):
    cfg = RunConfig(output_dir=str(tmp_path / "vae"), steps=2, batch_size=2, warmup_steps=1, checkpoint_every=1)
    cfg.extra = {"blocks": [8, 8, 16, 16], "layers_per_block": 1, "size": 64, "max_layers": 3}
    assert train_vae.train(cfg) == 0
    out = Path(cfg.output_dir)
    assert len(_losses(out)) == 2
    from layerdiff.models import RGBAAutoencoder

    vae = RGBAAutoencoder.from_pretrained(out / "final" / "vae")
    assert vae.config.latents_std is not None  # latent statistics measured and stored


def test_transformer_resume_continues_the_same_run(tmp_path):
    full = _tf_cfg(tmp_path, "decompose", steps=4)
    train_transformer.train(full)
    expected = _losses(Path(full.output_dir))

    part = replace(full, output_dir=str(tmp_path / "resumed"), steps=2)
    train_transformer.train(part)  # "killed" after step 2 (checkpoint at 2)
    train_transformer.train(replace(part, steps=4))  # same command, more steps: resumes at step 2
    resumed = _losses(Path(part.output_dir))
    assert len(resumed) == 4
    np.testing.assert_allclose(resumed, expected, rtol=1e-5, atol=1e-6)


def test_data_loader_workers_give_the_same_run(tmp_path):
    """Batches built by 2 DataLoader worker processes are those the training process builds itself."""
    alone = _tf_cfg(tmp_path, "generate_edit", steps=3)
    train_transformer.train(alone)
    workers = replace(alone, output_dir=str(tmp_path / "workers"))
    workers.extra = {**alone.extra, "num_workers": 2}
    train_transformer.train(workers)
    np.testing.assert_allclose(_losses(Path(workers.output_dir)), _losses(Path(alone.output_dir)),
                               rtol=1e-5, atol=1e-6)


def test_step_batches_follow_the_step_order_with_workers(tmp_path):
    cfg = _tf_cfg(tmp_path, "text2layers", steps=5)
    cfg.extra = {**cfg.extra, "num_workers": 2}
    own = list(train_transformer.step_batches(replace(cfg, extra={**cfg.extra, "num_workers": 0}), 4, start=1))
    loaded = list(train_transformer.step_batches(cfg, 4, start=1))
    assert len(own) == len(loaded) == 4
    for a, b in zip(own, loaded):
        assert a.prompts == b.prompts and a.phrases == b.phrases
        assert torch.equal(a.frames, b.frames) and torch.equal(a.known, b.known)


def test_frame_batch_to_moves_every_tensor_and_keeps_the_rest(tmp_path):
    cfg = _tf_cfg(tmp_path, "generate_edit", steps=1)
    batch = next(train_transformer.step_batches(cfg, 4, start=0))
    moved = batch.to(torch.device("meta"))  # a device without data: every tensor must go there
    for name in ("frames", "known", "valid", "region"):
        assert getattr(moved, name).device.type == "meta"
        assert getattr(moved, name).shape == getattr(batch, name).shape
    assert (moved.prompts, moved.tasks, moved.phrases) == (batch.prompts, batch.tasks, batch.phrases)


def test_vae_resume_continues_the_same_run(tmp_path):
    cfg = RunConfig(output_dir=str(tmp_path / "a"), steps=3, batch_size=2, warmup_steps=1, checkpoint_every=1)
    cfg.extra = {"blocks": [8, 8, 16, 16], "layers_per_block": 1, "size": 64, "max_layers": 3}
    train_vae.train(cfg)
    expected = _losses(Path(cfg.output_dir))
    b = replace(cfg, output_dir=str(tmp_path / "b"), steps=1)
    train_vae.train(b)
    train_vae.train(replace(b, steps=3))
    np.testing.assert_allclose(_losses(Path(b.output_dir)), expected, rtol=1e-5, atol=1e-6)


def test_a_few_steps_on_a_fixed_batch_lower_the_loss():
    from layerdiff.data.synthetic import SyntheticDesigns
    from layerdiff.pipelines import LayerDecomposePipeline

    torch.manual_seed(0)
    pipe = LayerDecomposePipeline.from_pretrained("tiny-random")
    pipe.transformer.train()
    engine = SyntheticDesigns(seed=0, size=64, min_layers=2, max_layers=3)
    rng = np.random.default_rng(0)
    batch = build_batch([engine.sample(i) for i in range(4)], "decompose", 3, rng)
    opt = torch.optim.Adam(pipe.transformer.parameters(), lr=2e-3)
    losses = []
    for _ in range(12):
        loss = train_transformer.train_step(pipe, batch, torch.Generator().manual_seed(0), trainable_text=False)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0], losses


def test_build_batch_tasks_set_known_frames():
    from layerdiff.data.synthetic import SyntheticDesigns

    engine = SyntheticDesigns(seed=1, size=64, min_layers=2, max_layers=3)
    samples = [engine.sample(i) for i in range(8)]
    for stage in STAGES:
        b = build_batch(samples, stage, 4, np.random.default_rng(0))
        f = b.frames.shape[1]
        assert b.frames.shape[0] == 8 and b.known.shape == (8, f) and b.region.shape[:2] == (8, f)
        for task, known in zip(b.tasks, b.known):
            if task in ("decompose", "refer"):
                assert known.tolist() == [False] * (f - 1) + [True]
            if task in ("generate", "text2rgba"):
                assert not known.any()
            if task == "edit":
                assert not known[-1] and known[:-1].sum() >= 1


def test_psd_shards_feed_the_transformer_training(tmp_path):
    from conftest import PSD_FILES

    from layerdiff.data.psd_extract import extract_folder
    from training.tasks import psd_sample

    report = extract_folder(PSD_FILES, tmp_path / "shards", max_layers=4, size=64,
                            patterns=("semi-transparent-layers.psd", "clipping-mask4.psd", "2layers.psd"))
    assert report
    files = sorted((tmp_path / "shards").glob("*.npz"))
    assert files, "no shard extracted"
    samples = [psd_sample(f, 48, 4) for f in files]
    for s in samples:
        assert s.layers.size == (48, 48) and 1 <= len(s.layers) <= 4 and len(s.boxes) == len(s.layers)
    batch = build_batch(samples, "decompose", 4, np.random.default_rng(0))
    assert batch.frames.shape[0] == len(samples) and batch.frames.shape[-1] == 48
    cfg = _tf_cfg(tmp_path, "decompose", steps=1)
    cfg.extra.update(psd_shards=str(tmp_path / "shards"), psd_fraction=1.0, size=48)
    assert train_transformer.train(cfg) == 0


def test_build_batch_layer_phrases_follow_the_task():
    from layerdiff.data.synthetic import SyntheticDesigns

    engine = SyntheticDesigns(seed=1, size=64, min_layers=2, max_layers=3)
    samples = [engine.sample(i) for i in range(8)]
    seen = set()
    for seed in range(12):
        b = build_batch(samples, "generate_edit", 4, np.random.default_rng(seed), p_phrases=1.0, p_drop_text=0.0)
        f = b.frames.shape[1]
        for task, row, s, known in zip(b.tasks, b.phrases, samples, b.known):
            seen.add(task)
            assert len(row) == f and row[-1] == ""  # the composite frame has no phrase
            n = len(s.layer_captions)
            if task == "generate":
                assert row[:n] == list(s.layer_captions) and not any(row[n:])
            elif task == "edit":
                k = int((~known[:-1]).nonzero()[0])
                assert row[k] == s.layer_captions[k] == b.prompts[samples.index(s)]
            elif task == "decompose":
                assert not any(row)
    assert {"generate", "edit", "decompose"} <= seen
    b = build_batch(samples, "generate_edit", 4, np.random.default_rng(0), p_phrases=0.0)
    assert not any(p for row in b.phrases for p in row)


def test_widen_input_keeps_what_the_model_computes(tiny_components):
    from diffusers import QwenImageTransformer2DModel

    from layerdiff.frames import phrase_dim, predict_velocity
    from layerdiff.pipelines import LayerDecomposePipeline

    config = dict(tiny_components["transformer"].config)
    narrow = QwenImageTransformer2DModel.from_config({**config, "in_channels": 72}).eval()
    pipe = LayerDecomposePipeline(**{**tiny_components, "transformer": narrow})
    train_transformer.widen_input(pipe, config)
    wide = pipe.transformer
    assert phrase_dim(narrow) == 0 and phrase_dim(wide) == 32
    g = torch.Generator().manual_seed(0)
    lat, known = torch.randn(1, 3, 16, 4, 4, generator=g), torch.zeros(1, 3, dtype=torch.bool)
    text, mask = torch.randn(1, 4, 32, generator=g), torch.ones(1, 4, dtype=torch.long)
    phrases = torch.randn(1, 3, 32, generator=g)
    with torch.no_grad():
        before = predict_velocity(narrow, lat, known, torch.tensor([0.5]), text, mask)
        after = predict_velocity(wide, lat, known, torch.tensor([0.5]), text, mask, phrases=phrases)
    torch.testing.assert_close(before, after)  # new input columns start at zero
    with pytest.raises(ValueError, match="reads 104 input channels"):
        train_transformer.widen_input(pipe, {**config, "in_channels": 72})


def test_kind_weights_choose_the_elements_the_transformer_trains_on(tmp_path):
    """``--kind-weights shape=1``: every foreground layer of every batch is a vocabulary shape."""
    from layerdiff.data.synth_vocab import SHAPES

    def foreground_phrases(cfg: RunConfig) -> list[str]:
        return [row[k] for batch in train_transformer.step_batches(cfg, 4, start=0)
                for row in batch.phrases for k in range(1, len(row) - 1) if row[k]]

    default = _tf_cfg(tmp_path, "text2layers", steps=3)
    shapes_only = replace(default, extra={**default.extra,
                                          "kind_weights": train_transformer.parse_kind_weights(["shape=1"])})
    captions = foreground_phrases(shapes_only)
    assert captions and all(any(shape in cap for shape in SHAPES) for cap in captions)
    other = foreground_phrases(default)
    assert not all(any(shape in cap for shape in SHAPES) for cap in other)


@pytest.mark.parametrize("pairs, message", [(["shape=x"], "not a number"), (["blob=1"], "is not KIND=WEIGHT"),
                                            (["shape"], "is not KIND=WEIGHT"), (["shape=-1"], "non-negative"),
                                            (["shape=0", "text=0"], "every weight is 0")])
def test_parse_kind_weights_rejects_bad_pairs(pairs, message):
    with pytest.raises(ValueError, match=message):
        train_transformer.parse_kind_weights(pairs)
    assert train_transformer.parse_kind_weights(["shape=0.7", "text=0.3"]) == {"shape": 0.7, "text": 0.3}
