"""Tests of the layer-aware transformer: diffusers' QwenImageTransformer2DModel with the
``tiny-random`` preset config (layer axis in the rotary code, 16 latent + 2 signal channels packed 2x2,
then the frame's layer-phrase embedding: the text encoder's width).

Token layout: ``L`` layer frames followed by one composite frame, each ``h x w`` packed tokens;
``img_shapes = [[(1, h, w)] * L + [(1, h, w)]]`` (the last frame gets layer index -1 in the rotary code).
"""

from __future__ import annotations

import torch
from diffusers import QwenImageTransformer2DModel
from model_mixin import ModelTesterMixin

from layerdiff.registry import LATENT_CHANNELS, SIGNAL_CHANNELS, get_preset

CONFIG = get_preset("tiny-random").components["transformer"].config
TEXT_DIM = CONFIG["joint_attention_dim"]
IN_CHANNELS = 4 * (LATENT_CHANNELS + SIGNAL_CHANNELS) + TEXT_DIM


def tiny_transformer(seed: int = 0) -> QwenImageTransformer2DModel:
    torch.manual_seed(seed)
    return QwenImageTransformer2DModel(**CONFIG).eval()


def make_inputs(layers: int, h: int = 4, w: int = 4, batch: int = 1, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    tokens = (layers + 1) * h * w
    mask = torch.ones(batch, 5, dtype=torch.long)
    mask[:, 3:] = 0  # padded text tokens
    return dict(
        hidden_states=torch.randn(batch, tokens, IN_CHANNELS, generator=g),  # (B, (L+1)*h*w, 72 + 32)
        encoder_hidden_states=torch.randn(batch, 5, TEXT_DIM, generator=g),  # (B, T, D)
        encoder_hidden_states_mask=mask,  # (B, T)
        timestep=torch.full((batch,), 0.5),
        img_shapes=[[(1, h, w)] * layers + [(1, h, w)]] * batch,
    )


def forward(model: QwenImageTransformer2DModel, inputs: dict) -> torch.Tensor:
    with torch.no_grad():
        return model(**inputs, return_dict=False)[0]  # (B, tokens, 4 * 16)


class TestLayerTransformerModel(ModelTesterMixin):
    shape_cases = [(1, 4, 4, 1), (3, 4, 4, 2), (6, 2, 4, 1)]  # (layers, h, w, batch)

    def make_model(self) -> QwenImageTransformer2DModel:
        return tiny_transformer()

    def make_inputs(self, case):
        layers, h, w, batch = case
        return make_inputs(layers, h, w, batch)

    def run(self, model, inputs):
        return forward(model, inputs)

    def expected_shape(self, case):
        layers, h, w, batch = case
        return (batch, (layers + 1) * h * w, 4 * LATENT_CHANNELS)


def test_preset_config_is_layer_aware() -> None:
    model = tiny_transformer()
    assert model.config.in_channels == IN_CHANNELS == 72 + 32
    assert model.config.out_channels == LATENT_CHANNELS
    assert model.config.use_layer3d_rope
    assert sum(model.config.axes_dims_rope) == model.config.attention_head_dim


def test_frames_attend_jointly() -> None:
    model = tiny_transformer()
    layers, h, w = 3, 4, 4
    n = h * w
    inputs = make_inputs(layers, h, w)
    base = forward(model, inputs)
    changed = dict(inputs)
    hs = inputs["hidden_states"].clone()
    hs[:, layers * n:] += 1.0  # change the composite frame only
    changed["hidden_states"] = hs
    out = forward(model, changed)
    for frame in range(layers):  # every layer frame sees the change
        assert not torch.allclose(out[:, frame * n:(frame + 1) * n], base[:, frame * n:(frame + 1) * n])
    text = dict(inputs)  # and the prompt reaches the image tokens
    text["encoder_hidden_states"] = inputs["encoder_hidden_states"] + 1.0
    assert not torch.allclose(forward(model, text), base)


def test_padded_text_tokens_are_ignored() -> None:
    model = tiny_transformer()
    inputs = make_inputs(2)
    base = forward(model, inputs)
    padded = dict(inputs)
    ehs = inputs["encoder_hidden_states"].clone()
    ehs[:, 3:] = 100.0  # mask 0 there
    padded["encoder_hidden_states"] = ehs
    torch.testing.assert_close(forward(model, padded), base, rtol=1e-5, atol=1e-5)


def test_layer_order_matters() -> None:
    """Swapping two layer frames' contents does not just swap their outputs: the rotary layer axis
    tells the frames apart. Without it (same frame index for all) the swap would be exact."""
    model = tiny_transformer()
    layers, h, w = 3, 4, 4
    n = h * w
    inputs = make_inputs(layers, h, w)
    base = forward(model, inputs)

    def swap01(x: torch.Tensor) -> torch.Tensor:
        frames = list(x.split(n, dim=1))
        frames[0], frames[1] = frames[1], frames[0]
        return torch.cat(frames, dim=1)

    swapped = dict(inputs, hidden_states=swap01(inputs["hidden_states"]))
    out = forward(model, swapped)
    assert not torch.allclose(out, swap01(base), atol=1e-4)

    # control: with no layer axis (every frame at layer 0) the model is equivariant to the swap
    same_pos = model.pos_embed._compute_video_freqs(1, h, w, 0, None)  # (n, head_dim / 2)
    cond_pos = model.pos_embed._compute_condition_freqs(1, h, w, None)
    original = model.pos_embed.forward

    def flat_rope(video_fhw, max_txt_seq_len, device=None):
        _, txt = original(video_fhw, max_txt_seq_len, device=device)
        return torch.cat([same_pos] * layers + [cond_pos], dim=0), txt

    model.pos_embed.forward = flat_rope
    try:
        flat = forward(model, inputs)
        flat_swapped = forward(model, swapped)
    finally:
        model.pos_embed.forward = original
    torch.testing.assert_close(flat_swapped, swap01(flat), rtol=1e-5, atol=1e-5)
