"""Frame packing and the flow-matching helpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from layerdiff.flow import euler_sample, flow_loss, guidance_combine, noise_frames
from layerdiff.frames import frame_shapes, model_input, pack, region_maps, unpack


def test_pack_unpack_roundtrip():
    x = torch.randn(2, 3, 5, 6, 8)
    tokens = pack(x)
    assert tokens.shape == (2, 3 * 3 * 4, 20)
    assert torch.equal(unpack(tokens, 3, 6, 8), x)
    assert frame_shapes(3, 6, 8) == [(1, 3, 4)] * 3


def test_model_input_adds_known_flag_and_region():
    lat = torch.zeros(1, 2, 16, 4, 4)
    known = torch.tensor([[True, False]])
    region = torch.ones(1, 2, 1, 4, 4) * 0.5
    x = model_input(lat, known, region)
    assert x.shape == (1, 2, 18, 4, 4)
    assert x[0, 0, 16].eq(1).all() and x[0, 1, 16].eq(0).all() and x[0, :, 17].eq(0.5).all()


def test_region_maps_area_pool():
    m = torch.zeros(1, 2, 16, 16)
    m[0, 0, :8, :8] = 1
    r = region_maps(m, (2, 2))
    assert r.shape == (1, 2, 1, 2, 2) and r[0, 0, 0, 0, 0] == 1 and r[0, 0, 0, 1, 1] == 0


def test_noise_frames_keeps_known_and_loss_ignores_them():
    x0 = torch.randn(2, 3, 4, 2, 2)
    noise = torch.randn_like(x0)
    known = torch.tensor([[True, False, False], [False, False, True]])
    xt = noise_frames(x0, noise, torch.tensor([0.5, 1.0]), known)
    assert torch.equal(xt[0, 0], x0[0, 0]) and torch.equal(xt[1, 2], x0[1, 2])
    assert torch.allclose(xt[1, 0], noise[1, 0])
    perfect = noise - x0
    wrong_on_known = perfect.clone()
    wrong_on_known[known] += 10
    assert flow_loss(wrong_on_known, x0, noise, known) == 0
    assert flow_loss(perfect + 1, x0, noise, known) > 0


def test_euler_sample_is_exact_for_the_true_velocity():
    x0 = torch.randn(1, 2, 3, 2, 2)
    noise = torch.randn_like(x0)
    known = torch.tensor([[False, True]])
    sigmas = torch.linspace(1, 0, 5)
    out = euler_sample(lambda x, s, i: noise - x0, noise, x0, known, sigmas)
    assert torch.allclose(out, x0, atol=1e-5)


def test_guidance_combine():
    c, u = torch.ones(2), torch.zeros(2)
    assert torch.equal(guidance_combine(c, u, 1.0), c)
    assert torch.equal(guidance_combine(c, u, 3.0), 3 * c)


def test_phrases_are_appended_per_frame_and_zero_when_absent():
    from layerdiff.frames import with_phrases

    tokens = torch.randn(2, 3 * 4, 5)  # (B, F * n, D): 3 frames of 4 tokens
    phrases = torch.arange(2 * 3 * 2, dtype=torch.float32).view(2, 3, 2)  # (B, F, P)
    out = with_phrases(tokens, phrases, 3, 2)
    assert out.shape == (2, 12, 7) and torch.equal(out[..., :5], tokens)
    assert torch.equal(out[1, 4:8, 5:], phrases[1, 1].expand(4, 2))  # frame 1's tokens carry frame 1's phrase
    assert with_phrases(tokens, None, 3, 2)[..., 5:].eq(0).all()
    assert with_phrases(tokens, phrases, 3, 0) is tokens  # a transformer reading no phrases ignores them


def test_phrase_dim_and_encoded_phrases(tiny_components):
    from layerdiff.frames import encode_phrases, phrase_dim

    transformer, text_encoder = tiny_components["transformer"], tiny_components["text_encoder"]
    width = phrase_dim(transformer)
    assert width == transformer.config.in_channels - 72 == text_encoder.embed_dim == 32
    emb = encode_phrases(text_encoder, [["a red circle", "", "a red circle"], ["", "", "blue text"]], width)
    assert emb.shape == (2, 3, 32)
    assert emb[0, 1].eq(0).all() and emb[1, :2].eq(0).all()  # "" = no phrase
    assert torch.allclose(emb[0, 0], emb[0, 2])
    assert torch.allclose(emb[0, 0].pow(2).mean(), torch.tensor(1.0))  # unit mean square
    assert encode_phrases(text_encoder, [["x"]], 0) is None


def test_predict_velocity_reads_the_phrases(tiny_components):
    from layerdiff.frames import predict_velocity

    transformer = tiny_components["transformer"]
    g = torch.Generator().manual_seed(0)
    lat = torch.randn(1, 3, 16, 4, 4, generator=g)
    known = torch.zeros(1, 3, dtype=torch.bool)
    text, mask = torch.randn(1, 4, 32, generator=g), torch.ones(1, 4, dtype=torch.long)
    sigma = torch.tensor([0.5])
    with torch.no_grad():
        none = predict_velocity(transformer, lat, known, sigma, text, mask)
        zeros = predict_velocity(transformer, lat, known, sigma, text, mask, phrases=torch.zeros(1, 3, 32))
        some = predict_velocity(transformer, lat, known, sigma, text, mask, phrases=torch.randn(1, 3, 32, generator=g))
    assert torch.equal(none, zeros) and not torch.allclose(none, some)


@pytest.mark.parametrize("shift", [1.0, 3.0])
@pytest.mark.parametrize("steps", [1, 8, 40])
def test_get_schedule_is_the_schedulers_schedule_without_its_state(steps, shift):
    """The pure schedule equals what diffusers' scheduler computes (the pipelines used to step that object)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    from layerdiff.flow import get_schedule

    scheduler = FlowMatchEulerDiscreteScheduler(shift=shift)
    scheduler.set_timesteps(sigmas=np.linspace(1.0, 0.0, steps + 1)[:-1].tolist(), device="cpu")
    sigmas = get_schedule(steps, shift)
    assert sigmas.dtype == torch.float32 and sigmas.shape == (steps + 1,)
    assert torch.equal(sigmas, scheduler.sigmas.to(torch.float32))
    with pytest.raises(ValueError, match="integer >= 1"):
        get_schedule(0)
