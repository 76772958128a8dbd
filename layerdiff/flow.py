"""Rectified-flow (flow matching) training targets and the stateless Euler sampler.

Convention (Liu et al. 2022 "Flow Straight and Fast"; Lipman et al. 2023 "Flow Matching";
Esser et al. 2024 "Scaling Rectified Flow Transformers", SD3): ``x_sigma = (1 - sigma) x0 + sigma noise``
with sigma in [0, 1]; the model predicts the velocity ``v = noise - x0``; sampling integrates
``dx/dsigma = v`` from sigma = 1 to 0 with Euler steps. Known frames are held at their clean
values at every step (they are conditions, not samples).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch


def sample_training_sigmas(batch: int, generator: torch.Generator | None = None,
                           logit_mean: float = 0.0, logit_std: float = 1.0) -> torch.Tensor:
    """Logit-normal noise levels (B,) for training (SD3, section 3.1)."""
    u = torch.randn(batch, generator=generator) * logit_std + logit_mean
    return torch.sigmoid(u)


def noise_frames(x0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Noisy input: unknown frames at level sigma, known frames clean.

    x0, noise: (B, F, C, h, w); sigma: (B,); known: (B, F) bool. Returns (B, F, C, h, w).
    """
    s = sigma.view(-1, 1, 1, 1, 1).to(x0.dtype)  # (B, 1, 1, 1, 1)
    noisy = (1 - s) * x0 + s * noise
    keep = known.view(*known.shape, 1, 1, 1).to(torch.bool)  # (B, F, 1, 1, 1)
    return torch.where(keep, x0, noisy)


def flow_loss(pred: torch.Tensor, x0: torch.Tensor, noise: torch.Tensor, known: torch.Tensor,
              valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared velocity error over unknown (and valid) frames only.

    pred, x0, noise: (B, F, C, h, w); known: (B, F) bool; valid: optional (B, F) bool.
    """
    weight = (~known.to(torch.bool)).to(pred.dtype)  # (B, F)
    if valid is not None:
        weight = weight * valid.to(pred.dtype)
    err = (pred - (noise - x0)).pow(2).mean(dim=(2, 3, 4))  # (B, F)
    return (err * weight).sum() / weight.sum().clamp_min(1.0)


def get_schedule(num_steps: int, shift: float = 1.0) -> torch.Tensor:
    """Noise levels of an Euler sampling run: ``num_steps`` evenly spaced levels from 1 down (1 included,
    0 not), each time-shifted as SD3 does (``shift * s / (1 + (shift - 1) * s)``, Esser et al. 2024,
    section 5.3.2), then the final 0: a float32 tensor (num_steps + 1,). A pure function of its arguments
    (the values diffusers' ``FlowMatchEulerDiscreteScheduler.set_timesteps(sigmas=...)`` computes)."""
    if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)) or num_steps < 1:
        raise ValueError(f"num_inference_steps must be an integer >= 1, got {num_steps!r}")
    sigmas = np.linspace(1.0, 0.0, int(num_steps) + 1)[:-1].astype(np.float32)  # (steps,)
    sigmas = shift * sigmas / (1 + (shift - 1) * sigmas)
    return torch.cat([torch.from_numpy(sigmas).to(torch.float32), torch.zeros(1)])  # (steps + 1,)


def euler_sample(
    velocity_fn: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor],
    noise: torch.Tensor,
    clean: torch.Tensor,
    known: torch.Tensor,
    sigmas: torch.Tensor,
    on_step: Callable[[int, torch.Tensor, torch.Tensor], torch.Tensor | None] | None = None,
) -> torch.Tensor:
    """Integrate the flow from sigmas[0] to sigmas[-1] with Euler steps.

    velocity_fn(x, sigma (B,), step) -> v with x's shape (B, F, C, h, w).
    noise: starting noise (B, F, C, h, w); clean: values of the known frames (same shape; anything
    where unknown); known: (B, F) bool. ``on_step(i, sigma, x)`` may return a replacement x
    (diffusers' callback_on_step_end). Returns x at the last sigma.
    """
    keep = known.view(*known.shape, 1, 1, 1).to(torch.bool)  # (B, F, 1, 1, 1)
    x = torch.where(keep, clean, noise * sigmas[0] + clean * (1 - sigmas[0]))
    for i in range(len(sigmas) - 1):
        sigma = sigmas[i].expand(x.shape[0]).to(x.dtype)  # (B,)
        v = velocity_fn(x, sigma, i)  # (B, F, C, h, w)
        x = x + (sigmas[i + 1] - sigmas[i]) * v
        x = torch.where(keep, clean, x)
        if on_step is not None:
            replaced = on_step(i, sigma, x)
            if replaced is not None:
                x = replaced
    return x


def guidance_combine(cond: torch.Tensor, uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance (Ho & Salimans 2022): uncond + scale * (cond - uncond)."""
    if math.isclose(scale, 1.0):
        return cond
    return uncond + scale * (cond - uncond)
