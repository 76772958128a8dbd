"""RGBA autoencoder: 4 channels in, 4 channels out, 8x downsampling, normalised latents.

Architecture
------------
:class:`RGBAAutoencoder` subclasses diffusers' 2D ``AutoencoderKL`` (SD-style encoder/decoder,
KL-regularised Gaussian posterior, Rombach et al. 2022, "High-Resolution Image Synthesis with
Latent Diffusion Models", sec. 3). Qwen-Image-Layered (sec. "RGBA-VAE") widens the first encoder
and the last decoder convolution of an RGB VAE from 3 to 4 channels; :meth:`RGBAAutoencoder.from_rgb`
does the same here. The alternative base, ``AutoencoderKLQwenImage(input_channels=4)``, is a
causal 3D (video) autoencoder: on still images it pays for 3D convolutions and its feature cache.
The 2D ``AutoencoderKL`` is the faster of the two at equal size on a CPU (``benchmarks/bench_models.py
--only vae`` compares them; the figures are in BENCHMARKS.md), which decides the choice for a model that
must run on a laptop CPU. The upstream Qwen-Image-Layered VAE is a different class with its own weights;
it is not wrapped here.

Alpha convention
----------------
Public tensors are **straight** (un-premultiplied) RGBA in [0, 1], shape ``(N, 4, H, W)``. Inside the
VAE, colour is **premultiplied**: ``x -> (rgb * a, a)``, mapped to [-1, 1]. The colour of invisible
pixels (``a = 0``) is therefore multiplied away before the encoder sees it and cannot leak into the
latent (two inputs that differ only there give identical latents). Decoding clamps the
premultiplied output to ``0 <= rgb_p <= a <= 1``, snaps alpha within ``alpha_snap`` of 0 or 1 to
exactly 0 or 1, and divides colour by alpha; where alpha is 0 the straight colour is set to 0 (it is
irrelevant there). A decoded pixel with alpha 0 thus composites to exactly the background.

Latent normalisation
--------------------
The VAE owns its latent scaling: :meth:`encode_rgba` returns ``(z - mean) * scaling_factor / std``
where ``mean`` is ``latents_mean`` (per channel) or ``shift_factor`` (scalar, default 0) and ``std``
is ``latents_std`` (per channel, default 1). :meth:`decode_rgba` inverts it. Pipelines never see
these numbers; training sets them with :meth:`set_latent_normalization`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch
from diffusers import AutoencoderKL
from diffusers.configuration_utils import register_to_config
from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

from .weights import SafetensorsOnly

__all__ = ["RGBAAutoencoder", "RGBAReconstruction", "premultiply", "unpremultiply"]

DEFAULT_ALPHA_SNAP = 0.5 / 255.0


def premultiply(rgba: torch.Tensor) -> torch.Tensor:
    """Straight RGBA ``(N, 4, H, W)`` -> premultiplied ``(rgb * a, a)``, same range."""
    alpha = rgba[:, 3:4]  # (N, 1, H, W)
    return torch.cat([rgba[:, :3] * alpha, alpha], dim=1)  # (N, 4, H, W)


def unpremultiply(rgba_p: torch.Tensor, alpha_snap: float = DEFAULT_ALPHA_SNAP) -> torch.Tensor:
    """Premultiplied RGBA in [0, 1] -> straight RGBA in [0, 1].

    Alpha within ``alpha_snap`` of 0 or 1 is snapped to exactly 0 or 1; premultiplied colour is
    clamped to ``[0, alpha]``; the straight colour of zero-alpha pixels is 0.
    """
    alpha = rgba_p[:, 3:4].clamp(0.0, 1.0)  # (N, 1, H, W)
    if alpha_snap > 0:
        alpha = torch.where(alpha <= alpha_snap, torch.zeros_like(alpha), alpha)
        alpha = torch.where(alpha >= 1.0 - alpha_snap, torch.ones_like(alpha), alpha)
    colour_p = torch.minimum(rgba_p[:, :3].clamp(min=0.0), alpha)  # (N, 3, H, W)
    visible = alpha > 0
    colour = torch.where(visible, colour_p / torch.where(visible, alpha, torch.ones_like(alpha)), 0.0)
    return torch.cat([colour.clamp(0.0, 1.0), alpha], dim=1)  # (N, 4, H, W)


@dataclass
class RGBAReconstruction:
    """Output of :meth:`RGBAAutoencoder.reconstruct_rgba` (used by training losses).

    ``rgba``: straight RGBA ``(N, 4, H, W)`` in [0, 1]; ``premultiplied``: the decoder's premultiplied
    RGBA ``(N, 4, H, W)`` in [0, 1] (no division, stable gradients); ``posterior``: the raw
    (un-normalised) latent distribution, for the KL term; ``latents``: normalised latents used.
    """

    rgba: torch.Tensor
    premultiplied: torch.Tensor
    posterior: DiagonalGaussianDistribution
    latents: torch.Tensor


def check_rgba(x: torch.Tensor, scale: int) -> None:
    """Raise a ValueError unless ``x`` is straight RGBA ``(N, 4, H, W)`` in [0, 1] with H, W multiples of
    ``scale`` (the autoencoders' input contract)."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"RGBA input must be a tensor of shape (N, 4, H, W), got {shape}")
    if x.shape[-2] % scale or x.shape[-1] % scale:
        raise ValueError(f"RGBA input height and width must be multiples of {scale}, "
                         f"got {x.shape[-2]}x{x.shape[-1]}")
    if x.numel() and (x.min() < -1e-3 or x.max() > 1 + 1e-3):
        raise ValueError(f"RGBA input must be straight RGBA in [0, 1], "
                         f"got range [{float(x.min()):.4g}, {float(x.max()):.4g}]")


class RGBAAutoencoder(SafetensorsOnly, AutoencoderKL):
    """KL autoencoder for straight-alpha RGBA images (see the module docstring for conventions).

    The constructor arguments are the config (saved beside the safetensors weights). They are
    ``AutoencoderKL``'s, with RGBA defaults, plus ``alpha_snap``; ``down_block_types`` /
    ``up_block_types`` default to one plain block per entry of ``block_out_channels`` (so
    ``len(block_out_channels) == 4`` gives 8x downsampling).
    """

    @register_to_config
    def __init__(
        self,
        in_channels: int = 4,
        out_channels: int = 4,
        down_block_types: tuple[str, ...] | None = None,
        up_block_types: tuple[str, ...] | None = None,
        block_out_channels: tuple[int, ...] = (32, 64, 128, 128),
        layers_per_block: int = 1,
        act_fn: str = "silu",
        latent_channels: int = 16,
        norm_num_groups: int = 8,
        sample_size: int = 128,
        scaling_factor: float = 1.0,
        shift_factor: float | None = 0.0,
        latents_mean: tuple[float, ...] | None = None,
        latents_std: tuple[float, ...] | None = None,
        force_upcast: bool = False,
        use_quant_conv: bool = True,
        use_post_quant_conv: bool = True,
        mid_block_add_attention: bool = True,
        alpha_snap: float = DEFAULT_ALPHA_SNAP,
    ) -> None:
        if in_channels != 4 or out_channels != 4:
            raise ValueError(
                f"RGBAAutoencoder needs in_channels=4 and out_channels=4, "
                f"got {in_channels} and {out_channels}"
            )
        n_blocks = len(block_out_channels)
        down_block_types = tuple(down_block_types or ("DownEncoderBlock2D",) * n_blocks)
        up_block_types = tuple(up_block_types or ("UpDecoderBlock2D",) * n_blocks)
        if len(down_block_types) != n_blocks or len(up_block_types) != n_blocks:
            raise ValueError(
                f"down_block_types ({len(down_block_types)}) and up_block_types ({len(up_block_types)}) "
                f"must have one entry per block_out_channels entry ({n_blocks})"
            )
        if any(c % norm_num_groups for c in block_out_channels):
            raise ValueError(f"block_out_channels {tuple(block_out_channels)} must be multiples of "
                             f"norm_num_groups={norm_num_groups}")
        for name, stats in (("latents_mean", latents_mean), ("latents_std", latents_std)):
            if stats is not None and len(stats) != latent_channels:
                raise ValueError(f"{name} has {len(stats)} entries, "
                                 f"expected latent_channels={latent_channels}")
        if not 0.0 <= alpha_snap < 0.5:
            raise ValueError(f"alpha_snap must be in [0, 0.5), got {alpha_snap}")
        super().__init__(
            in_channels=in_channels,
            out_channels=out_channels,
            down_block_types=down_block_types,
            up_block_types=up_block_types,
            block_out_channels=tuple(block_out_channels),
            layers_per_block=layers_per_block,
            act_fn=act_fn,
            latent_channels=latent_channels,
            norm_num_groups=norm_num_groups,
            sample_size=sample_size,
            scaling_factor=scaling_factor,
            shift_factor=shift_factor,
            latents_mean=latents_mean,
            latents_std=latents_std,
            force_upcast=force_upcast,
            use_quant_conv=use_quant_conv,
            use_post_quant_conv=use_post_quant_conv,
            mid_block_add_attention=mid_block_add_attention,
        )
        # The parent's @register_to_config runs after ours and stores the resolved block types.

    # ------------------------------------------------------------------ properties
    @property
    def spatial_scale(self) -> int:
        """Downsampling factor between pixels and latents (8 for four blocks)."""
        return 2 ** (len(self.config.block_out_channels) - 1)

    @property
    def latent_channels(self) -> int:
        """Number of latent channels (16 in the presets)."""
        return int(self.config.latent_channels)

    # ------------------------------------------------------------------ normalisation
    def _latent_stats(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
        cfg = self.config
        shape = (1, self.latent_channels, 1, 1)
        if cfg.latents_mean is not None:
            mean = torch.tensor(cfg.latents_mean, dtype=like.dtype, device=like.device).view(shape)
        else:
            mean = torch.full(shape, float(cfg.shift_factor or 0.0), dtype=like.dtype, device=like.device)
        if cfg.latents_std is not None:
            std = torch.tensor(cfg.latents_std, dtype=like.dtype, device=like.device).view(shape)
        else:
            std = torch.ones(shape, dtype=like.dtype, device=like.device)
        return mean, std, float(cfg.scaling_factor)

    def normalize_latents(self, z_raw: torch.Tensor) -> torch.Tensor:
        """Raw posterior latents ``(N, C, h, w)`` -> the normalised latents pipelines use."""
        mean, std, scale = self._latent_stats(z_raw)
        return (z_raw - mean) * scale / std  # (N, C, h, w)

    def denormalize_latents(self, z: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`normalize_latents`."""
        mean, std, scale = self._latent_stats(z)
        return z * std / scale + mean  # (N, C, h, w)

    def set_latent_normalization(
        self,
        mean: float | list[float] | torch.Tensor,
        std: float | list[float] | torch.Tensor,
    ) -> None:
        """Store latent statistics (scalar or per channel) so that normalised latents have mean 0, std 1.

        Scalars go to ``shift_factor`` / ``scaling_factor = 1 / std``; per-channel values to
        ``latents_mean`` / ``latents_std`` (with ``scaling_factor = 1``). Saved with the config.
        """
        mean_t = torch.as_tensor(mean, dtype=torch.float64).flatten()
        std_t = torch.as_tensor(std, dtype=torch.float64).flatten()
        if (std_t <= 0).any():
            raise ValueError("latent std must be positive")
        if mean_t.numel() == 1 and std_t.numel() == 1:
            self.register_to_config(shift_factor=float(mean_t), scaling_factor=float(1.0 / std_t),
                                    latents_mean=None, latents_std=None)
            return
        c = self.latent_channels
        if mean_t.numel() not in (1, c) or std_t.numel() not in (1, c):
            raise ValueError(f"latent statistics need 1 or {c} entries, "
                             f"got {mean_t.numel()} and {std_t.numel()}")
        self.register_to_config(
            latents_mean=[float(v) for v in mean_t.expand(c)],
            latents_std=[float(v) for v in std_t.expand(c)],
            shift_factor=0.0, scaling_factor=1.0,
        )

    # ------------------------------------------------------------------ RGBA API
    def encode_rgba_posterior(self, x: torch.Tensor) -> DiagonalGaussianDistribution:
        """Straight RGBA ``(N, 4, H, W)`` in [0, 1] -> raw (un-normalised) Gaussian posterior."""
        check_rgba(x, self.spatial_scale)
        x = x.to(device=self.device, dtype=self.dtype).clamp(0.0, 1.0)
        inner = premultiply(x) * 2.0 - 1.0  # (N, 4, H, W) in [-1, 1]
        return self.encode(inner).latent_dist

    def encode_rgba(
        self,
        x: torch.Tensor,
        sample: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Straight RGBA ``(N, 4, H, W)`` in [0, 1] -> normalised latents ``(N, C, H/8, W/8)``.

        ``sample=False`` takes the posterior mode (deterministic); ``sample=True`` draws from it
        with ``generator``. Raises ``ValueError`` if H or W is not a multiple of :attr:`spatial_scale`.
        """
        posterior = self.encode_rgba_posterior(x)
        z_raw = posterior.sample(generator=generator) if sample else posterior.mode()  # (N, C, h, w)
        return self.normalize_latents(z_raw)

    def decode_rgba_premultiplied(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised latents ``(N, C, h, w)`` -> premultiplied RGBA ``(N, 4, 8h, 8w)`` in [0, 1] (unclamped
        to ``rgb <= a``; for losses)."""
        if not isinstance(z, torch.Tensor) or z.ndim != 4 or z.shape[1] != self.latent_channels:
            shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(f"latents must have shape (N, {self.latent_channels}, h, w), got {shape}")
        z = z.to(device=self.device, dtype=self.dtype)
        out = self.decode(self.denormalize_latents(z)).sample  # (N, 4, H, W) in ~[-1, 1]
        return ((out.float() + 1.0) * 0.5).clamp(0.0, 1.0)  # (N, 4, H, W)

    def decode_rgba(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised latents ``(N, C, h, w)`` -> straight RGBA ``(N, 4, 8h, 8w)`` float32 in [0, 1]."""
        return unpremultiply(self.decode_rgba_premultiplied(z), float(self.config.alpha_snap))

    def reconstruct_rgba(
        self,
        x: torch.Tensor,
        sample: bool = True,
        generator: torch.Generator | None = None,
    ) -> RGBAReconstruction:
        """Encode then decode ``x`` (straight RGBA), keeping what the training losses need."""
        posterior = self.encode_rgba_posterior(x)
        z_raw = posterior.sample(generator=generator) if sample else posterior.mode()  # (N, C, h, w)
        latents = self.normalize_latents(z_raw)
        premultiplied = self.decode_rgba_premultiplied(latents)
        return RGBAReconstruction(
            rgba=unpremultiply(premultiplied, float(self.config.alpha_snap)),
            premultiplied=premultiplied,
            posterior=posterior,
            latents=latents,
        )

    # ------------------------------------------------------------------ widening
    @classmethod
    def from_rgb(cls, rgb_vae: AutoencoderKL, **config_overrides: object) -> RGBAAutoencoder:
        """Widen a (pretrained) RGB ``AutoencoderKL`` to RGBA as Qwen-Image-Layered does.

        The first encoder conv gets a 4th input channel (RGB weights copied, alpha weights 0); the last
        decoder conv a 4th output (RGB weights copied, alpha weights 0, alpha bias 1). On opaque input the
        result's RGB equals the RGB model's and its alpha is 1. Latent statistics are copied from the RGB
        model unless overridden.
        """
        if not isinstance(rgb_vae, AutoencoderKL):
            raise ValueError(f"from_rgb needs a diffusers AutoencoderKL, got {type(rgb_vae).__name__}")
        src = dict(rgb_vae.config)
        if src.get("in_channels") != 3 or src.get("out_channels") != 3:
            raise ValueError(f"from_rgb needs a 3-channel VAE, got in_channels={src.get('in_channels')}, "
                             f"out_channels={src.get('out_channels')}")
        keys = [k for k in cls._config_keys() if k in src and k not in ("in_channels", "out_channels")]
        config = {k: src[k] for k in keys}
        config.update(config_overrides)
        model = cls(**config)
        state = {k: v.detach().clone() for k, v in rgb_vae.state_dict().items()}
        w_in = state["encoder.conv_in.weight"]  # (C0, 3, k, k)
        w_in = torch.cat([w_in, torch.zeros_like(w_in[:, :1])], dim=1)  # (C0, 4, k, k): alpha input 0
        state["encoder.conv_in.weight"] = w_in
        w_out = state["decoder.conv_out.weight"]  # (3, C0, k, k)
        b_out = state["decoder.conv_out.bias"]  # (3,)
        w_out = torch.cat([w_out, torch.zeros_like(w_out[:1])], dim=0)  # (4, C0, k, k): alpha weights 0
        state["decoder.conv_out.weight"] = w_out
        state["decoder.conv_out.bias"] = torch.cat([b_out, torch.ones_like(b_out[:1])], dim=0)  # (4,): bias 1
        model.load_state_dict(state, strict=True)
        return model.to(device=rgb_vae.device, dtype=rgb_vae.dtype)

    @classmethod
    def _config_keys(cls) -> list[str]:
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
