"""Shared checks for layerdiff's models (diffusers ``ModelMixin`` subclasses).

A test class mixes in :class:`ModelTesterMixin` and defines:

- ``make_model(self) -> ModelMixin``: a fresh model with a fixed seed, in eval mode;
- ``make_inputs(self, case) -> dict``: inputs for one entry of ``shape_cases`` (fixed seed);
- ``run(self, model, inputs) -> Tensor``: the output tensor compared by the checks;
- ``expected_shape(self, case) -> tuple[int, ...]``;
- ``shape_cases``: a list of cases (the first is used for save/load and determinism);
- ``saves_weights`` (default True): whether ``save_pretrained`` writes a safetensors file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch


def _public_config(model: Any) -> dict[str, Any]:
    """The config without private keys, with tuples as lists (as JSON stores them)."""
    return json.loads(json.dumps({k: v for k, v in dict(model.config).items() if not k.startswith("_")}))


class ModelTesterMixin:
    shape_cases: list[Any] = []
    saves_weights: bool = True

    # The four hooks below are abstract: each test class that mixes this in defines them.
    def make_model(self) -> Any:
        raise NotImplementedError

    def make_inputs(self, case: Any) -> dict[str, Any]:
        raise NotImplementedError

    def run(self, model: Any, inputs: dict[str, Any]) -> torch.Tensor:
        raise NotImplementedError

    def expected_shape(self, case: Any) -> tuple[int, ...]:
        raise NotImplementedError

    def _output(self, model: Any, case: Any) -> torch.Tensor:
        with torch.no_grad():
            return self.run(model, self.make_inputs(case))

    def test_save_load_identical(self, tmp_path: Path) -> None:
        model = self.make_model()
        before = self._output(model, self.shape_cases[0])
        model.save_pretrained(tmp_path)
        files = {p.name for p in tmp_path.rglob("*") if p.is_file()}
        assert "config.json" in files
        assert not [f for f in files if f.endswith((".bin", ".pt", ".pth", ".ckpt", ".pkl"))], files
        has_safetensors = any(f.endswith(".safetensors") for f in files)
        assert has_safetensors == self.saves_weights, files
        loaded = type(model).from_pretrained(tmp_path).eval()
        assert _public_config(loaded) == _public_config(model)
        saved, restored = model.state_dict(), loaded.state_dict()
        assert saved.keys() == restored.keys()
        for key, value in saved.items():
            assert torch.equal(value, restored[key]), key
        after = self._output(loaded, self.shape_cases[0])
        # Weights are bit-identical; safetensors memory-maps them, and differently aligned buffers can
        # take other SIMD code paths in a few kernels (last-bit differences), hence the tiny tolerance.
        torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-6)

    def test_deterministic(self) -> None:
        model = self.make_model()
        first = self._output(model, self.shape_cases[0])
        second = self._output(model, self.shape_cases[0])
        torch.testing.assert_close(first, second, rtol=0, atol=0)
        assert torch.isfinite(first).all()

    def test_output_shapes(self) -> None:
        model = self.make_model()
        for case in self.shape_cases:
            out = self._output(model, case)
            assert tuple(out.shape) == tuple(self.expected_shape(case)), case
            assert torch.isfinite(out).all(), case


def random_rgba(n: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Random straight RGBA ``(N, 4, H, W)`` in [0, 1] with many exactly invisible pixels."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 4, h, w, generator=g)  # (N, 4, H, W)
    x[:, 3] = (x[:, 3] > 0.4).float() * x[:, 3]
    return x


class RGBAAutoencoderTesterMixin(ModelTesterMixin):
    """The ModelTesterMixin checks for an RGBA autoencoder (``encode_rgba`` / ``decode_rgba``, 8x
    downsampling, 16 latent channels): the output is the latents and the reconstruction, flattened.
    A test class defines ``make_model``; ``input_seed`` seeds the inputs."""

    shape_cases = [(1, 16, 16), (2, 32, 24), (1, 8, 40)]
    input_seed = 0

    def make_inputs(self, case: Any) -> dict[str, Any]:
        n, h, w = case
        return {"x": random_rgba(n, h, w, seed=self.input_seed)}

    def run(self, model: Any, inputs: dict[str, Any]) -> torch.Tensor:
        z = model.encode_rgba(inputs["x"])
        return torch.cat([z.flatten(1), model.decode_rgba(z).flatten(1)], dim=1)

    def expected_shape(self, case: Any) -> tuple[int, ...]:
        n, h, w = case
        return (n, 16 * (h // 8) * (w // 8) + 4 * h * w)
