"""Tests of the RGBA autoencoder (layerdiff/models/rgba_vae.py) and its losses."""

from __future__ import annotations

import pytest
import torch
from diffusers import AutoencoderKL
from model_mixin import RGBAAutoencoderTesterMixin, random_rgba

from layerdiff.models import RGBAAutoencoder, premultiply, unpremultiply
from layerdiff.models.losses import (
    VAELossWeights,
    alpha_weighted_l1,
    composite_loss,
    edge_loss,
    kl_loss,
    over,
    random_backgrounds,
    rgba_vae_loss,
    ssim_loss,
)

TINY_CONFIG = dict(in_channels=4, out_channels=4, latent_channels=16, block_out_channels=(8, 8, 16, 16),
                   layers_per_block=1, norm_num_groups=8)


def tiny_vae(seed: int = 0, **overrides) -> RGBAAutoencoder:
    torch.manual_seed(seed)
    config = {**TINY_CONFIG, **overrides}
    return RGBAAutoencoder(**config).eval()


class TestRGBAAutoencoderModel(RGBAAutoencoderTesterMixin):
    def make_model(self) -> RGBAAutoencoder:
        return tiny_vae()


def test_encode_decode_shapes_and_range() -> None:
    vae = tiny_vae()
    assert vae.spatial_scale == 8 and vae.latent_channels == 16
    with torch.no_grad():
        z = vae.encode_rgba(random_rgba(2, 32, 48))
        out = vae.decode_rgba(z)
    assert z.shape == (2, 16, 4, 6)
    assert out.shape == (2, 4, 32, 48) and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 1


def test_encode_rejects_bad_inputs() -> None:
    vae = tiny_vae()
    with pytest.raises(ValueError, match="multiples of 8"):
        vae.encode_rgba(torch.rand(1, 4, 20, 16))
    with pytest.raises(ValueError, match=r"\(N, 4, H, W\)"):
        vae.encode_rgba(torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        vae.encode_rgba(torch.rand(1, 4, 16, 16) * 2 - 1)
    with pytest.raises(ValueError, match="latents must have shape"):
        vae.decode_rgba(torch.rand(1, 4, 2, 2))
    with pytest.raises(ValueError, match="in_channels=4"):
        RGBAAutoencoder(in_channels=3)


def test_sampling_uses_generator() -> None:
    vae = tiny_vae()
    x = random_rgba(1, 16, 16)
    with torch.no_grad():
        a = vae.encode_rgba(x, sample=True, generator=torch.Generator().manual_seed(1))
        b = vae.encode_rgba(x, sample=True, generator=torch.Generator().manual_seed(1))
        c = vae.encode_rgba(x, sample=True, generator=torch.Generator().manual_seed(2))
        mode = vae.encode_rgba(x)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c) and not torch.equal(a, mode)


def test_invisible_colour_does_not_reach_latents() -> None:
    vae = tiny_vae()
    x = random_rgba(2, 24, 24)
    y = x.clone()
    invisible = (x[:, 3:4] == 0).expand(-1, 3, -1, -1)  # (N, 3, H, W)
    assert invisible.any()
    y[:, :3][invisible] = torch.rand(int(invisible.sum()))
    assert not torch.equal(x, y)
    with torch.no_grad():
        torch.testing.assert_close(vae.encode_rgba(x), vae.encode_rgba(y), rtol=0, atol=0)
        # a visible pixel's colour does reach them
        y2 = x.clone()
        y2[:, :3][~invisible] = 1.0 - y2[:, :3][~invisible]
        assert not torch.allclose(vae.encode_rgba(x), vae.encode_rgba(y2))


def test_zero_alpha_pixels_composite_to_exact_background() -> None:
    vae = tiny_vae()
    with torch.no_grad():  # push the decoder's alpha output to ~-1 (alpha ~0) in one half of the image
        bias = vae.decoder.conv_out.bias
        bias[3] = -1.0 + 1e-4
        vae.decoder.conv_out.weight[3].zero_()
        out = vae.decode_rgba(torch.randn(2, 16, 3, 3))
    assert (out[:, 3] == 0).all()
    assert (out[:, :3] == 0).all()  # no colour kept where nothing is visible
    bg = torch.rand(2, 3, 24, 24)
    torch.testing.assert_close(over(out, bg), bg, rtol=0, atol=0)


def test_unpremultiply_conventions() -> None:
    p = torch.tensor([[0.3, 0.2, 0.9, 0.5], [0.001, 0.001, 0.0, 0.001],
                      [0.5, 0.1, 0.0, 0.999], [0.4, 0.0, 0.0, 0.2]])  # premultiplied pixels
    rgba_p = p.T.reshape(1, 4, 1, 4)  # pixels along W
    out = unpremultiply(rgba_p)
    alpha = out[0, 3, 0]
    torch.testing.assert_close(alpha, torch.tensor([0.5, 0.0, 1.0, 0.2]))
    torch.testing.assert_close(out[0, :3, 0, 0], torch.tensor([0.6, 0.4, 1.0]))  # 0.9 / 0.5 clamps to 1
    assert (out[0, :3, 0, 1] == 0).all()  # snapped to invisible: colour 0
    torch.testing.assert_close(out[0, :3, 0, 3], torch.tensor([1.0, 0.0, 0.0]))  # rgb_p > a clamps to a
    x = random_rgba(1, 8, 8)
    round_trip = unpremultiply(premultiply(x), alpha_snap=0.0)
    vis = x[:, 3:4] > 0.05
    torch.testing.assert_close(round_trip[:, :3] * vis, x[:, :3] * vis, rtol=1e-5, atol=1e-5)


def test_latent_normalization_is_owned_by_vae(tmp_path) -> None:
    vae = tiny_vae()
    x = random_rgba(1, 16, 16)
    with torch.no_grad():
        raw = vae.encode_rgba_posterior(x).mode()
        vae.set_latent_normalization(0.5, 2.0)
        z = vae.encode_rgba(x)
        torch.testing.assert_close(z, (raw - 0.5) / 2.0)
        torch.testing.assert_close(vae.denormalize_latents(z), raw)
        mean, std = torch.linspace(-1, 1, 16), torch.linspace(0.5, 2, 16)
        vae.set_latent_normalization(mean, std)
        z = vae.encode_rgba(x)
        torch.testing.assert_close(z, (raw - mean.view(1, 16, 1, 1)) / std.view(1, 16, 1, 1))
        vae.save_pretrained(tmp_path)
        loaded = RGBAAutoencoder.from_pretrained(tmp_path)
        torch.testing.assert_close(loaded.encode_rgba(x), z)
    with pytest.raises(ValueError, match="positive"):
        vae.set_latent_normalization(0.0, -1.0)


def _tiny_rgb_vae() -> AutoencoderKL:
    torch.manual_seed(3)
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(8, 8, 16, 16),
                        layers_per_block=1, latent_channels=16, norm_num_groups=8, scaling_factor=0.5,
                        shift_factor=0.1)
    return vae.eval()


def test_from_rgb_matches_rgb_model_on_opaque_input() -> None:
    rgb_vae = _tiny_rgb_vae()
    vae = RGBAAutoencoder.from_rgb(rgb_vae).eval()
    assert vae.config.scaling_factor == 0.5 and vae.config.shift_factor == 0.1
    w_in = vae.encoder.conv_in.weight
    assert w_in.shape[1] == 4 and (w_in[:, 3] == 0).all()
    assert (vae.decoder.conv_out.bias[3] == 1).all() and (vae.decoder.conv_out.weight[3] == 0).all()
    x = torch.rand(2, 4, 32, 32, generator=torch.Generator().manual_seed(0))
    x[:, 3] = 1.0
    with torch.no_grad():
        raw_rgb = rgb_vae.encode(x[:, :3] * 2 - 1).latent_dist.mode()
        ref = ((rgb_vae.decode(raw_rgb).sample + 1) / 2).clamp(0, 1)  # (N, 3, H, W)
        z = vae.encode_rgba(x)
        torch.testing.assert_close(vae.denormalize_latents(z), raw_rgb, rtol=1e-5, atol=1e-5)
        out = vae.decode_rgba(z)
    torch.testing.assert_close(out[:, :3], ref, rtol=1e-5, atol=1e-5)
    assert (out[:, 3] == 1).all()


def test_from_rgb_rejects_rgba_source() -> None:
    with pytest.raises(ValueError, match="3-channel"):
        RGBAAutoencoder.from_rgb(tiny_vae())


def test_reconstruct_and_losses_backpropagate() -> None:
    vae = tiny_vae().train()
    x = random_rgba(2, 16, 16)
    rec = vae.reconstruct_rgba(x, generator=torch.Generator().manual_seed(0))
    terms = rgba_vae_loss(rec.rgba, x, rec.posterior.mean, rec.posterior.logvar,
                          generator=torch.Generator().manual_seed(0))
    assert set(terms) == {"loss", "recon", "composite", "kl", "edge", "ssim"}
    assert all(torch.isfinite(v) and v >= 0 for v in terms.values())
    terms["loss"].backward()
    grads = [p.grad for p in vae.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    off = rgba_vae_loss(rec.rgba.detach(), x, rec.posterior.mean.detach(), rec.posterior.logvar.detach(),
                        weights=VAELossWeights(composite=0, kl=0, edge=0, ssim=0))
    torch.testing.assert_close(off["loss"], off["recon"])


def test_loss_terms_values() -> None:
    x = random_rgba(2, 16, 16)
    assert alpha_weighted_l1(x, x) == 0 and composite_loss(x, x) == 0 and edge_loss(x, x) == 0
    assert ssim_loss(x[:, :3], x[:, :3]).abs() < 1e-5
    # colour changes under alpha = 0 cost nothing in the alpha-weighted and composite terms
    y = x.clone()
    y[:, :3] = torch.where(x[:, 3:4] == 0, 1 - x[:, :3], x[:, :3])
    assert alpha_weighted_l1(y, x) == 0 and composite_loss(y, x) < 1e-7
    # a visible colour error costs in both
    z = x.clone()
    z[:, 0] = torch.where(x[:, 3] > 0, 1 - x[:, 0], x[:, 0])
    assert alpha_weighted_l1(z, x) > 0.05 and composite_loss(z, x) > 0.01 and edge_loss(z, x) > 0
    mean, logvar = torch.zeros(3, 4), torch.zeros(3, 4)
    assert kl_loss(mean, logvar) == 0 and kl_loss(mean + 1, logvar) == pytest.approx(0.5)
    bgs = random_backgrounds(4, 8, 8, generator=torch.Generator().manual_seed(0))
    assert bgs.shape == (4, 3, 8, 8) and bgs.min() >= 0 and bgs.max() <= 1
    assert bgs[0].std(dim=(1, 2)).max() == 0 and bgs[1].std(dim=(1, 2)).max() > 0  # solid, gradient
    with pytest.raises(ValueError, match="pred and target"):
        alpha_weighted_l1(x, x[:, :3])
