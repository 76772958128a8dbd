"""Frames: how a layered image becomes one token sequence for the layer-aware transformer.

A sample is ``F = L + 1`` frames on one latent grid, layers first (bottom to top), the composite
last: ``[layer_1, ..., layer_L, composite]``. In the rotary code of diffusers'
``QwenImageTransformer2DModel(use_layer3d_rope=True)`` frame ``i < F - 1`` gets layer index ``i``
and the last frame (the composite) gets index -1, as the condition image does in
Qwen-Image-Layered (Yin et al. 2025, "Qwen-Image-Layered", VLD-MMDiT).

Every task is the same denoising problem with a different choice of *known* frames (given clean)
and *unknown* frames (noised, predicted; the loss counts only these):

==================  =====================  ==========================
task                known                  unknown
==================  =====================  ==========================
decompose           composite              all layers
text -> layers      (nothing)              all layers + composite
edit layer k        all layers but k       layer k + composite
insert layer        existing layers        new layer + composite
extract (refer)     composite              object layer + background
==================  =====================  ==========================

Per latent pixel the transformer reads ``LATENT_CHANNELS`` latent channels plus two signal
channels: the frame's known flag (1 = clean, given) and a region hint in [0, 1] (a layout box,
a referring point/box/mask map; 0 when unused). Channels are packed 2x2 into tokens.

A transformer whose ``in_channels`` exceed those packed channels by ``P`` also reads, on every token
of a frame, that frame's **layer phrase**: the pooled text embedding (P values) of the frame's own
caption ("a red circle"; zeros when the frame has none). Layer phrases bind each caption to its
layer, as ART's per-layer regional prompts do (Pu et al. 2025), without relying on the joint
attention over the whole caption to work out which words belong to which frame.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .registry import LATENT_CHANNELS, SIGNAL_CHANNELS

PATCH = 2


def frame_shapes(num_frames: int, height: int, width: int) -> list[tuple[int, int, int]]:
    """Rotary ``img_shapes`` entry for one sample: one (1, h/2, w/2) block per frame (composite last)."""
    return [(1, height // PATCH, width // PATCH)] * num_frames


def model_input(latents: torch.Tensor, known: torch.Tensor, region: torch.Tensor | None = None) -> torch.Tensor:
    """Concatenate latents with the signal channels.

    latents: (B, F, C, h, w); known: (B, F) bool/float; region: (B, F, 1, h, w) in [0, 1] or None.
    Returns (B, F, C + 2, h, w).
    """
    b, f, _, h, w = latents.shape
    flag = known.to(latents.dtype).view(b, f, 1, 1, 1).expand(b, f, 1, h, w)  # (B, F, 1, h, w)
    if region is None:
        region = torch.zeros_like(flag)
    return torch.cat([latents, flag, region.to(latents.dtype)], dim=2)  # (B, F, C + 2, h, w)


def pack(frames: torch.Tensor) -> torch.Tensor:
    """(B, F, C, h, w) -> tokens (B, F * h/2 * w/2, C * 4), frame-major, 2x2 patches."""
    b, f, c, h, w = frames.shape
    if h % PATCH or w % PATCH:
        raise ValueError(f"latent grid {h}x{w} must be divisible by the patch size {PATCH}")
    x = frames.view(b, f, c, h // PATCH, PATCH, w // PATCH, PATCH)
    x = x.permute(0, 1, 3, 5, 2, 4, 6)  # (B, F, h/2, w/2, C, 2, 2)
    return x.reshape(b, f * (h // PATCH) * (w // PATCH), c * PATCH * PATCH)


def unpack(tokens: torch.Tensor, num_frames: int, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`pack`: (B, F * h/2 * w/2, C * 4) -> (B, F, C, h, w)."""
    b, _, d = tokens.shape
    c = d // (PATCH * PATCH)
    x = tokens.view(b, num_frames, height // PATCH, width // PATCH, c, PATCH, PATCH)
    x = x.permute(0, 1, 4, 2, 5, 3, 6)  # (B, F, C, h/2, 2, w/2, 2)
    return x.reshape(b, num_frames, c, height, width)


def phrase_dim(transformer: torch.nn.Module) -> int:
    """Width of the layer-phrase features the transformer reads per token (0: it reads none)."""
    extra = int(transformer.config.in_channels) - PATCH * PATCH * (LATENT_CHANNELS + SIGNAL_CHANNELS)
    if extra < 0:
        raise ValueError(f"transformer in_channels {transformer.config.in_channels} < the "
                         f"{PATCH * PATCH * (LATENT_CHANNELS + SIGNAL_CHANNELS)} packed frame channels")
    return extra


def with_phrases(tokens: torch.Tensor, phrases: torch.Tensor | None, num_frames: int, width: int) -> torch.Tensor:
    """Append each frame's phrase embedding to its tokens.

    tokens: (B, F * n, D) frame-major; phrases: (B, F, P) or None (zeros). Returns (B, F * n, D + width).
    """
    if width == 0:
        return tokens
    b, t, _ = tokens.shape
    if phrases is None:
        return torch.cat([tokens, tokens.new_zeros(b, t, width)], dim=-1)
    if phrases.shape != (b, num_frames, width):
        raise ValueError(f"layer phrases: expected shape {(b, num_frames, width)}, got {tuple(phrases.shape)}")
    per_token = phrases.to(tokens.dtype).repeat_interleave(t // num_frames, dim=1)  # (B, F * n, P)
    return torch.cat([tokens, per_token], dim=-1)  # (B, F * n, D + P)


def encode_phrases(text_encoder: torch.nn.Module, phrases: list[list[str]], width: int,
                   device: torch.device | str | None = None) -> torch.Tensor | None:
    """Per-frame layer phrases -> (B, F, width) embeddings, or None when ``width`` is 0.

    ``phrases[b][f]`` is frame f's caption ("" = none, zeros). Each phrase is the mask-weighted mean of
    the text encoder's token states (a sentence embedding, as Sentence-BERT pools; Reimers and Gurevych
    2019), L2-normalised and scaled by sqrt(width) so that its entries have unit mean square.
    """
    from .models.text_encoder import mean_pool

    if width == 0:
        return None
    b, f = len(phrases), max((len(row) for row in phrases), default=0)
    if any(len(row) != f for row in phrases):
        raise ValueError("layer phrases: every sample needs one phrase per frame")
    flat = [p for row in phrases for p in row]
    out = torch.zeros(b * f, width, device=device)  # (B * F, P)
    used = [i for i, p in enumerate(flat) if p]
    if used:
        emb, mask = text_encoder.encode([flat[i] for i in used], device=device)  # (N, T, P), (N, T)
        if emb.shape[-1] != width:
            raise ValueError(f"layer phrases: the text encoder gives {emb.shape[-1]} values, the transformer reads "
                             f"{width}")
        pooled = F.normalize(mean_pool(emb.float(), mask), dim=-1) * width ** 0.5  # (N, P)
        out = out.index_copy(0, torch.tensor(used, device=out.device), pooled.to(out.device))
    return out.view(b, f, width)  # (B, F, P)


def predict_velocity(
    transformer: torch.nn.Module,
    latents: torch.Tensor,
    known: torch.Tensor,
    sigma: torch.Tensor,
    text: torch.Tensor,
    text_mask: torch.Tensor,
    region: torch.Tensor | None = None,
    phrases: torch.Tensor | None = None,
) -> torch.Tensor:
    """One transformer call on a batch of frame stacks.

    latents: (B, F, C, h, w) (noisy unknown frames, clean known frames); known: (B, F);
    sigma: (B,) noise level in [0, 1]; text: (B, T, D); text_mask: (B, T); phrases: (B, F, P) layer-phrase
    embeddings (None: zeros; ignored by a transformer that reads none, see :func:`phrase_dim`).
    Returns the predicted flow velocity ``noise - x0`` for every frame: (B, F, C, h, w).
    """
    b, f, c, h, w = latents.shape
    if c != LATENT_CHANNELS:
        raise ValueError(f"expected {LATENT_CHANNELS} latent channels, got {c}")
    tokens = pack(model_input(latents, known, region))  # (B, F * h/2 * w/2, 4 * (C + 2))
    tokens = with_phrases(tokens, phrases, f, phrase_dim(transformer))  # (B, F * h/2 * w/2, 4 * (C + 2) + P)
    out = transformer(
        hidden_states=tokens,
        encoder_hidden_states=text,
        encoder_hidden_states_mask=text_mask,
        timestep=sigma.to(tokens.dtype),
        img_shapes=[frame_shapes(f, h, w)] * b,
        return_dict=False,
    )[0]  # (B, F * h/2 * w/2, 4 * C)
    return unpack(out, f, h, w)  # (B, F, C, h, w)


def resize_rgba(rgba: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize (N, 4, H, W) straight RGBA to (h, w) = size in premultiplied space (no colour fringes): area
    averaging when shrinking, bilinear otherwise."""
    rgb, a = rgba[:, :3], rgba[:, 3:4]
    h, w = size
    big = rgba.shape[-2] * rgba.shape[-1] > h * w
    mode = "area" if big else "bilinear"
    kw = {} if big else {"align_corners": False}
    pre = F.interpolate(torch.cat([rgb * a, a], dim=1), size=(h, w), mode=mode, **kw)  # (N, 4, h, w)
    a2 = pre[:, 3:4].clamp(0, 1)
    rgb2 = torch.where(a2 > 1e-6, pre[:, :3] / a2.clamp_min(1e-6), torch.zeros_like(pre[:, :3]))
    return torch.cat([rgb2.clamp(0, 1), a2], dim=1)


def region_maps(masks: torch.Tensor, latent_hw: tuple[int, int]) -> torch.Tensor:
    """Pixel-space hint maps (B, F, H, W) in [0, 1] -> latent-grid maps (B, F, 1, h, w) by area pooling."""
    b, f = masks.shape[:2]
    pooled = F.adaptive_avg_pool2d(masks.reshape(b * f, 1, *masks.shape[2:]).float(), latent_hw)
    return pooled.view(b, f, 1, *latent_hw)


__all__ = ["PATCH", "SIGNAL_CHANNELS", "encode_phrases", "frame_shapes", "model_input", "pack", "phrase_dim",
           "predict_velocity", "region_maps", "resize_rgba", "unpack", "with_phrases"]
