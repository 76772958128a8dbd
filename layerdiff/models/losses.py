"""Training losses of the RGBA autoencoder.

All image tensors are ``(N, 4, H, W)`` RGBA in [0, 1]. ``pred`` is the decoder's output and
``target`` the straight-alpha input. Terms:

- :func:`alpha_weighted_l1`: colour error weighted by the target alpha (invisible colour is free,
  as in LayerDiffuse's "latent transparency" objective) plus an alpha error;
- :func:`composite_loss`: both layers composited over random backgrounds (solid colours and linear
  gradients) and compared; a fringe of wrong colour at a soft edge costs loss on any background
  (layerdiff design notes, "Alpha and colour conventions");
- :func:`kl_loss`: KL divergence of the diagonal Gaussian posterior to N(0, I) (Kingma & Welling 2014);
- :func:`edge_loss`: L1 between finite-difference image gradients of the premultiplied images, which
  sharpens alpha edges and line art;
- :func:`ssim_loss`: 1 - SSIM (Wang et al. 2004) of the composites, a structural/perceptual term that
  needs no pretrained network.

:func:`rgba_vae_loss` combines them with :class:`VAELossWeights` and returns every term.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "VAELossWeights", "alpha_weighted_l1", "composite_loss", "edge_loss", "kl_loss",
    "random_backgrounds", "rgba_vae_loss", "ssim_loss", "over",
]


def _check_pair(pred: torch.Tensor, target: torch.Tensor) -> None:
    if pred.shape != target.shape or pred.ndim != 4 or pred.shape[1] != 4:
        raise ValueError(f"pred and target must both be (N, 4, H, W), got {tuple(pred.shape)} and "
                         f"{tuple(target.shape)}")


def over(rgba: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """Straight RGBA ``(N, 4, H, W)`` over an opaque RGB background ``(N, 3, H, W)`` -> ``(N, 3, H, W)``."""
    alpha = rgba[:, 3:4]  # (N, 1, H, W)
    return rgba[:, :3] * alpha + background * (1.0 - alpha)  # (N, 3, H, W)


def alpha_weighted_l1(pred: torch.Tensor, target: torch.Tensor, alpha_weight: float = 1.0) -> torch.Tensor:
    """Alpha-weighted colour L1 plus alpha L1.

    ``sum(a_t * |c_p - c_t|) / (3 * sum(a_t)) + alpha_weight * mean|a_p - a_t|`` on straight colour.
    """
    _check_pair(pred, target)
    a_t = target[:, 3:4]  # (N, 1, H, W)
    colour = (a_t * (pred[:, :3] - target[:, :3]).abs()).sum() / (3.0 * a_t.sum() + 1e-6)
    return colour + alpha_weight * (pred[:, 3] - target[:, 3]).abs().mean()


def random_backgrounds(n: int, height: int, width: int, generator: torch.Generator | None = None,
                       device: torch.device | str | None = None) -> torch.Tensor:
    """``n`` random opaque backgrounds ``(n, 3, H, W)``: even indices solid colours, odd ones linear
    two-colour gradients at a random angle."""
    c0 = torch.rand(n, 3, 1, 1, generator=generator, device=device)  # (n, 3, 1, 1)
    c1 = torch.rand(n, 3, 1, 1, generator=generator, device=device)  # (n, 3, 1, 1)
    angle = torch.rand(n, 1, 1, 1, generator=generator, device=device) * (2 * torch.pi)  # (n, 1, 1, 1)
    ys = torch.linspace(0.0, 1.0, height, device=device).view(1, 1, height, 1)
    xs = torch.linspace(0.0, 1.0, width, device=device).view(1, 1, 1, width)
    ramp = (xs * torch.cos(angle) + ys * torch.sin(angle))  # (n, 1, H, W)
    lo = ramp.amin(dim=(2, 3), keepdim=True)
    hi = ramp.amax(dim=(2, 3), keepdim=True)
    t = (ramp - lo) / (hi - lo + 1e-6)  # (n, 1, H, W) in [0, 1]
    solid = (torch.arange(n, device=device) % 2 == 0).view(n, 1, 1, 1)
    t = torch.where(solid, torch.zeros_like(t), t)
    return c0 * (1 - t) + c1 * t  # (n, 3, H, W)


def composite_loss(pred: torch.Tensor, target: torch.Tensor, generator: torch.Generator | None = None,
                   num_backgrounds: int = 2) -> torch.Tensor:
    """Mean L1 between ``pred`` and ``target`` composited over the same random backgrounds."""
    _check_pair(pred, target)
    n, _, h, w = pred.shape
    total = pred.new_zeros(())
    for _ in range(num_backgrounds):
        bg = random_backgrounds(n, h, w, generator=generator, device=pred.device)  # (N, 3, H, W)
        bg = bg.to(pred.dtype)
        total = total + (over(pred, bg) - over(target, bg)).abs().mean()
    return total / num_backgrounds


def kl_loss(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Mean per-element KL(N(mean, exp(logvar)) || N(0, 1)); pass ``posterior.mean, posterior.logvar``."""
    if mean.shape != logvar.shape:
        raise ValueError(f"mean and logvar shapes differ: {tuple(mean.shape)} vs {tuple(logvar.shape)}")
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean()


def _premultiplied(rgba: torch.Tensor) -> torch.Tensor:
    return torch.cat([rgba[:, :3] * rgba[:, 3:4], rgba[:, 3:4]], dim=1)  # (N, 4, H, W)


def edge_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between horizontal and vertical finite differences of the premultiplied images."""
    _check_pair(pred, target)
    p, t = _premultiplied(pred), _premultiplied(target)  # (N, 4, H, W)
    dx = (p[..., :, 1:] - p[..., :, :-1]) - (t[..., :, 1:] - t[..., :, :-1])  # (N, 4, H, W-1)
    dy = (p[..., 1:, :] - p[..., :-1, :]) - (t[..., 1:, :] - t[..., :-1, :])  # (N, 4, H-1, W)
    return 0.5 * (dx.abs().mean() + dy.abs().mean())


def _gaussian_window(size: int, sigma: float, channels: int, like: torch.Tensor) -> torch.Tensor:
    coords = torch.arange(size, dtype=like.dtype, device=like.device) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()  # (C, 1, k, k)


def ssim_loss(pred_rgb: torch.Tensor, target_rgb: torch.Tensor, window: int = 7, sigma: float = 1.5
              ) -> torch.Tensor:
    """``1 - SSIM`` of two ``(N, C, H, W)`` images in [0, 1] (Gaussian window, Wang et al. 2004)."""
    if pred_rgb.shape != target_rgb.shape or pred_rgb.ndim != 4:
        raise ValueError(f"ssim_loss needs two (N, C, H, W) tensors of one shape, got "
                         f"{tuple(pred_rgb.shape)} and {tuple(target_rgb.shape)}")
    c = pred_rgb.shape[1]
    k = min(window, pred_rgb.shape[-1], pred_rgb.shape[-2])
    win = _gaussian_window(k, sigma, c, pred_rgb)  # (C, 1, k, k)

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, win, groups=c)

    mu_p, mu_t = blur(pred_rgb), blur(target_rgb)
    var_p = blur(pred_rgb * pred_rgb) - mu_p**2
    var_t = blur(target_rgb * target_rgb) - mu_t**2
    cov = blur(pred_rgb * target_rgb) - mu_p * mu_t
    c1, c2 = 0.01**2, 0.03**2
    ssim = ((2 * mu_p * mu_t + c1) * (2 * cov + c2)) / ((mu_p**2 + mu_t**2 + c1) * (var_p + var_t + c2))
    return 1.0 - ssim.mean()


@dataclass
class VAELossWeights:
    """Weights of the terms of :func:`rgba_vae_loss` (0 switches a term off)."""

    recon: float = 1.0
    composite: float = 1.0
    kl: float = 1e-6
    edge: float = 0.5
    ssim: float = 0.1


def rgba_vae_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    posterior_mean: torch.Tensor,
    posterior_logvar: torch.Tensor,
    weights: VAELossWeights | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """Weighted sum of the VAE terms. Returns ``{"loss": total, "recon": ..., "composite": ..., ...}``.

    ``pred`` is the straight RGBA reconstruction (``RGBAReconstruction.rgba``), ``target`` the input.
    """
    w = weights or VAELossWeights()
    terms: dict[str, torch.Tensor] = {}
    zero = pred.new_zeros(())
    terms["recon"] = alpha_weighted_l1(pred, target) if w.recon else zero
    terms["composite"] = composite_loss(pred, target, generator=generator) if w.composite else zero
    terms["kl"] = kl_loss(posterior_mean, posterior_logvar) if w.kl else zero
    terms["edge"] = edge_loss(pred, target) if w.edge else zero
    if w.ssim:
        bg = random_backgrounds(pred.shape[0], pred.shape[2], pred.shape[3], generator=generator,
                                device=pred.device).to(pred.dtype)  # (N, 3, H, W)
        terms["ssim"] = ssim_loss(over(pred, bg), over(target, bg))
    else:
        terms["ssim"] = zero
    factors = asdict(w)
    terms["loss"] = sum(factors[name] * terms[name] for name in factors)
    return terms
