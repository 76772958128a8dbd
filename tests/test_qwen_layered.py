"""The upstream Qwen-Image-Layered pipeline behind layerdiff's decomposer interface.

Every test uses tiny random components of the real classes (AutoencoderKLQwenImage with 4 input
channels, QwenImageTransformer2DModel with the layer rotary code and the extra time condition, a
Qwen2.5-VL text encoder and a byte-level Qwen2 tokenizer built offline), saved in the hub layout
and loaded through ``QwenLayeredDecomposePipeline.from_pretrained``. Upstream only runs at its 640 px
bucket, so one decomposition takes a few seconds even with tiny models: runs are shared through
module fixtures.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from layerdiff.contract import Decomposer, LayerLimitError, OptionError
from layerdiff.layered import LayeredImage, from_float
from layerdiff.pipelines import PipelineError
from layerdiff.pipelines.qwen_layered import (
    HUB_ID,
    PilQwenVLProcessor,
    QwenLayeredDecomposePipeline,
    component_parameters,
    plan_device,
)
from layerdiff.recompose import paint_full_resolution

GIB = 1024 ** 3
RUN = dict(prompt="a red disc and a blue bar on a gradient", num_inference_steps=2, true_cfg_scale=1.0)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                  "<|image_pad|>", "<|video_pad|>"]


# ------------------------------------------------------------------------------ tiny model folder
def _tokenizer():
    """Byte-level Qwen2 tokenizer: the 256 byte symbols (no merges) plus Qwen's special tokens."""
    from transformers import Qwen2Tokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab = {ch: i for i, ch in enumerate(bytes_to_unicode().values())}
    for tok in SPECIAL_TOKENS:
        vocab[tok] = len(vocab)
    return Qwen2Tokenizer(vocab=vocab, merges=[], additional_special_tokens=SPECIAL_TOKENS[1:]), vocab


def _text_encoder(vocab: dict[str, int]):
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    ids = dict(bos_token_id=vocab["<|endoftext|>"], eos_token_id=vocab["<|im_end|>"],
               pad_token_id=vocab["<|endoftext|>"])
    config = Qwen2_5_VLConfig(
        text_config=dict(hidden_size=16, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=2, rope_theta=1e6, vocab_size=len(vocab),
                         rope_scaling={"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
                         **ids),
        vision_config=dict(depth=1, hidden_size=16, intermediate_size=16, num_heads=2, out_hidden_size=16),
        hidden_size=16, vocab_size=len(vocab), vision_start_token_id=vocab["<|vision_start|>"],
        vision_end_token_id=vocab["<|vision_end|>"], image_token_id=vocab["<|image_pad|>"],
        video_token_id=vocab["<|video_pad|>"], vision_token_id=vocab["<|image_pad|>"], **ids,
    )
    return Qwen2_5_VLForConditionalGeneration(config)


def _vae(z_dim: int = 8):
    from diffusers import AutoencoderKLQwenImage

    return AutoencoderKLQwenImage(
        base_dim=4, z_dim=z_dim, dim_mult=[1, 1, 1, 1], num_res_blocks=0, temperal_downsample=[False] * 3,
        input_channels=4, latents_mean=[0.1 * i - 0.3 for i in range(z_dim)],
        latents_std=[1.0 + 0.1 * i for i in range(z_dim)])


def build_tiny_folder(root: Path) -> Path:
    """Save tiny random Qwen-Image-Layered components in the hub's diffusers layout."""
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        QwenImageLayeredPipeline,
        QwenImageTransformer2DModel,
    )
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    torch.manual_seed(0)
    tokenizer, vocab = _tokenizer()
    transformer = QwenImageTransformer2DModel(
        patch_size=2, in_channels=32, out_channels=8, num_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=16, axes_dims_rope=(8, 4, 4), use_layer3d_rope=True,
        use_additional_t_cond=True)
    pipe = QwenImageLayeredPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=_vae(),
                                    text_encoder=_text_encoder(vocab), tokenizer=tokenizer, processor=None,
                                    transformer=transformer)
    pipe.save_pretrained(root)
    # Qwen2VLProcessor cannot be built without torchvision; write its files as the hub has them.
    Qwen2VLImageProcessorPil(size={"shortest_edge": 3136, "longest_edge": 50176}).save_pretrained(
        root / "processor")
    tokenizer.save_pretrained(root / "processor")
    index = json.loads((root / "model_index.json").read_text())
    index["processor"] = ["transformers", "Qwen2VLProcessor"]
    (root / "model_index.json").write_text(json.dumps(index, indent=2))
    return root


def _fake_big_safetensors(path: Path, elements: int) -> None:
    """A safetensors file whose header declares ``elements`` bf16 values (the data is not there)."""
    entry = {"dtype": "BF16", "shape": [elements], "data_offsets": [0, 2 * elements]}
    header = json.dumps({"w": entry}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_folder(tmp_path_factory.mktemp("qwen") / "Qwen-Image-Layered")


@pytest.fixture(scope="module")
def pipe(folder: Path) -> QwenLayeredDecomposePipeline:
    p = QwenLayeredDecomposePipeline.from_pretrained(folder, device="cpu")
    p.set_progress_bar_config(disable=True)
    return p


def _design(h: int, w: int, flip: bool = False) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([0.9 - 0.3 * yy / h, 0.9 - 0.2 * xx / w, np.full_like(xx, 0.8)], axis=-1)
    img[((yy - h * 0.4) ** 2 + (xx - w * 0.4) ** 2) < (0.2 * h) ** 2] = (0.85, 0.1, 0.1)
    img[int(h * 0.75):int(h * 0.85), int(w * 0.1):int(w * 0.9)] = (0.1, 0.2, 0.8)
    return np.ascontiguousarray(img[:, ::-1] if flip else img)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    """An odd-sized (301 x 173) flat design."""
    return _design(173, 301)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def run_np(pipe: QwenLayeredDecomposePipeline, image: np.ndarray):
    return pipe(image, num_layers=2, generator=_gen(0), output_type="np", **RUN)


@pytest.fixture(scope="module")
def run_latent(pipe: QwenLayeredDecomposePipeline, image: np.ndarray):
    return pipe(image, num_layers=2, generator=_gen(0), output_type="latent", **RUN)


def _max_err(layered: LayeredImage, image: np.ndarray) -> float:
    return float(np.abs(layered.composite()[..., :3] - image).max())


# ------------------------------------------------------------------------------ decomposition
def test_preset_is_registered() -> None:
    from layerdiff.registry import ComponentSpec, decomposer_names, get_preset

    preset = get_preset("qwen-image-layered")
    assert preset.kind == "qwen-image-layered" and preset.weights == HUB_ID
    assert ComponentSpec(preset.implementation("decompose")[1]).load_class() is QwenLayeredDecomposePipeline
    assert "qwen-image-layered" in decomposer_names()


def test_decomposer_contract(pipe, image: np.ndarray) -> None:
    """Options, layer limits and progress as every decomposer has them; checks come before any sampling."""
    assert isinstance(pipe, Decomposer) and pipe.max_layers == 20 and "steps" in pipe.options
    with pytest.raises(OptionError, match="does not take the option num_inference_steps"):
        pipe.decompose(image, 2, num_inference_steps=2)
    with pytest.raises(LayerLimitError, match="20 layers; got num_layers=21"):
        pipe.decompose(image, 21, prompt="x")
    with pytest.raises(LayerLimitError, match="20 layers; got max_layers=25"):
        pipe.decompose(image, "auto", max_layers=25, prompt="x")
    steps: list = []
    latent = pipe.decompose(image, 1, seed=0, prompt=RUN["prompt"], steps=1, true_cfg_scale=1.0,
                            callback=lambda step, total: steps.append((step, total)))
    assert isinstance(latent, LayeredImage) and len(latent) == 1 and steps == [(1, 1)]


@pytest.mark.slow
def test_odd_size_decomposition_comes_back_at_its_size_and_recomposes(run_np, image: np.ndarray) -> None:
    assert len(run_np.images) == 1 and len(run_np.layers) == 1
    stack = run_np.layers[0]
    assert stack.shape == (2, 173, 301, 4) and stack.dtype == np.float32
    assert 0.0 <= stack.min() and stack.max() <= 1.0
    layered = run_np.images[0]
    assert isinstance(layered, LayeredImage) and layered.size == (301, 173) and len(layered) == 2
    assert _max_err(layered, image) <= 1.0 / 255 + 1e-6
    assert np.abs(stack[0] - stack[1]).max() > 0.01  # two different layers, not copies


@pytest.mark.slow
def test_batch_of_two_does_not_mix_layers(pipe, image: np.ndarray, run_np) -> None:
    """Each image of a batch equals its single run (upstream's batch gives 3 + 1 layers for 2 x 2)."""
    other = _design(173, 301, flip=True)
    batch = pipe([image, other], num_layers=2, generator=[_gen(0), _gen(1)], output_type="pt", **RUN)
    assert [tuple(t.shape) for t in batch.layers] == [(2, 4, 173, 301)] * 2
    single = pipe.decompose(other, num_layers=2, seed=1, prompt=RUN["prompt"], steps=2,
                            true_cfg_scale=1.0)  # the decomposer contract
    assert isinstance(single, LayeredImage)
    np.testing.assert_allclose(batch.layers[0].permute(0, 2, 3, 1).numpy(), run_np.layers[0], atol=1e-6)
    np.testing.assert_allclose(batch.layers[1].permute(0, 2, 3, 1).numpy(), single.to_numpy(), atol=1e-6)
    np.testing.assert_allclose(batch.images[1].to_numpy(), single.to_numpy(), atol=1e-6)
    assert _max_err(batch.images[1], other) <= 1.0 / 255 + 1e-6


@pytest.mark.slow
def test_pil_output_matches_np(pipe, image: np.ndarray, run_np) -> None:
    pil = pipe(image, num_layers=2, generator=_gen(0), output_type="pil", **RUN).layers[0]
    assert [im.mode for im in pil] == ["RGBA", "RGBA"] and pil[0].size == (301, 173)
    np.testing.assert_array_equal(np.stack([np.asarray(im) for im in pil]), from_float(run_np.layers[0], 8))


@pytest.mark.slow
def test_latent_output_decodes_to_the_same_layers(pipe, image: np.ndarray, run_np, run_latent) -> None:
    assert run_latent.images == []
    lat = run_latent.layers[0]
    gw, gh = pipe.model_grid(301, 173, 640)
    assert (gw, gh) == (832, 480)  # 640^2 area at the input's aspect ratio, multiples of 32
    assert lat.shape == (3, 8, gh // 8, gw // 8)  # 2 layers + the composite frame, last
    low = pipe.decode_latents(lat)
    assert low.shape == (2, gh, gw, 4)
    full = paint_full_resolution(low, image, True, True)
    np.testing.assert_allclose(full, run_np.layers[0], atol=1e-6)


@pytest.mark.slow
def test_our_decoding_matches_upstream_for_one_image(pipe, image: np.ndarray, run_latent) -> None:
    pil = Image.fromarray(from_float(image, 8), "RGB").convert("RGBA")
    upstream = pipe.pipe(image=pil, layers=2, generator=_gen(0), output_type="np", resolution=640,
                         use_en_prompt=True, cfg_normalize=True, **RUN).images[0]  # (L, H, W, 4)
    ours = pipe.decode_latents(run_latent.layers[0])
    assert upstream.shape == ours.shape
    np.testing.assert_allclose(ours, upstream, atol=1e-5)


@pytest.mark.slow
def test_auto_layer_count_drops_empty_frames(pipe, image: np.ndarray) -> None:
    auto = pipe(image, num_layers="auto", max_layers=3, min_layer_coverage=1.0, generator=_gen(0),
                output_type="np", **RUN)
    lat = pipe(image, num_layers="auto", max_layers=3, generator=_gen(0), output_type="latent",
               **RUN).layers[0]
    assert lat.shape[0] == 4  # "auto" samples max_layers layer frames (+ the composite)
    low = pipe.decode_latents(lat[[0, 3]])  # the bottom layer: the only one that covers every pixel
    expected = paint_full_resolution(low, image, True, True)
    assert auto.layers[0].shape[0] == 1
    np.testing.assert_allclose(auto.layers[0], expected, atol=1e-6)
    assert _max_err(auto.images[0], image) <= 1.0 / 255 + 1e-6


@pytest.mark.slow
def test_psd_export_of_the_result(run_np, image: np.ndarray, tmp_path: Path) -> None:
    from layerdiff.io import load, save

    path = save(run_np.images[0], tmp_path / "qwen.psd")
    back = load(path)
    assert len(back) == 2 and back.size == (301, 173)
    assert _max_err(back, image) <= 2.0 / 255


@pytest.mark.slow
def test_empty_prompt_uses_the_torchvision_free_caption_processor(pipe, image, monkeypatch) -> None:
    assert isinstance(pipe.pipe.vl_processor, PilQwenVLProcessor)
    captions = []
    original = pipe.pipe.get_image_caption

    def spy(*args, **kwargs):
        captions.append(original(*args, **kwargs))
        return captions[-1]

    monkeypatch.setattr(pipe.pipe, "get_image_caption", spy)
    out = pipe(image, num_layers=1, prompt="", num_inference_steps=1, true_cfg_scale=1.0, generator=_gen(0),
               output_type="latent")
    assert len(captions) == 1 and isinstance(captions[0], str)
    assert out.layers[0].shape[0] == 2


def test_caption_processor_expands_image_tokens(pipe) -> None:
    proc = pipe.pipe.vl_processor
    img = Image.new("RGBA", (112, 56), (200, 10, 10, 255))
    batch = proc(text="<|vision_start|><|image_pad|><|vision_end|>hi", images=img, padding=True,
                 return_tensors="pt")
    n_image = int(batch["image_grid_thw"].prod()) // proc.image_processor.merge_size ** 2
    assert n_image == 8  # (56 / 14) x (112 / 14) patches, merged 2 x 2
    assert int((batch["input_ids"] == proc.image_token_id).sum()) == n_image
    assert torch.equal(batch["mm_token_type_ids"], (batch["input_ids"] == proc.image_token_id).long())
    assert batch["pixel_values"].shape[0] == 4 * n_image
    assert proc.batch_decode(batch["input_ids"][:, -2:]) == ["hi"]


def test_bad_arguments_are_refused_before_running(pipe, image: np.ndarray) -> None:
    cases = [
        (dict(resolution=512), "resolution must be one of (640, 1024)"),
        (dict(num_layers=0), "num_layers must be in [1, 20]"),
        (dict(num_layers="auto", max_layers=21), "max_layers must be in [1, 20]"),
        (dict(output_type="svg"), "output_type must be one of"),
        (dict(prompt=["a", "b"]), "got 2 prompts for 1 images"),
        (dict(generator=[_gen(0), _gen(1)]), "got 2 generators for 1 images"),
        (dict(num_inference_steps=0), "num_inference_steps must be >= 1"),
    ]
    for kwargs, message in cases:
        with pytest.raises(PipelineError) as err:
            pipe(image, **kwargs)
        assert message in str(err.value), kwargs
    with pytest.raises(PipelineError, match="too extreme"):
        pipe(np.zeros((8, 16000, 3), np.float32), prompt="x")


def test_out_of_memory_names_the_remedies(pipe, image: np.ndarray, monkeypatch) -> None:
    def oom(self, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(type(pipe.pipe), "__call__", oom)
    with pytest.raises(PipelineError, match="out of GPU memory .* enable_model_cpu_offload=True"):
        pipe(image, num_layers=2, **RUN)


def test_vae_whose_latents_look_like_rgba_images_is_refused(pipe) -> None:
    from diffusers import QwenImageLayeredPipeline

    bad = QwenImageLayeredPipeline(scheduler=pipe.pipe.scheduler, vae=_vae(z_dim=4),
                                   text_encoder=pipe.pipe.text_encoder, tokenizer=pipe.pipe.tokenizer,
                                   processor=None, transformer=pipe.pipe.transformer)
    with pytest.raises(PipelineError, match="z_dim=4 equals its input channels"):
        QwenLayeredDecomposePipeline(bad)


# ------------------------------------------------------------------------------ loading and errors
def test_parameter_estimate_from_headers_and_from_configs(folder: Path, pipe, tmp_path: Path) -> None:
    actual = {name: sum(p.numel() for p in getattr(pipe.pipe, name).parameters())
              for name in ("transformer", "text_encoder", "vae")}
    assert component_parameters(folder) == actual
    configs_only = tmp_path / "configs"
    for src in folder.rglob("*.json"):
        dst = configs_only / src.relative_to(folder)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dst)
    assert component_parameters(configs_only) == actual


def test_dtype_passes_through(folder: Path) -> None:
    p = QwenLayeredDecomposePipeline.from_pretrained(folder, device="cpu", torch_dtype=torch.bfloat16)
    assert p.dtype == torch.bfloat16
    assert p.pipe.vae.dtype == torch.bfloat16 and p.pipe.text_encoder.dtype == torch.bfloat16
    assert p.device == torch.device("cpu")


def _fake_cuda(monkeypatch, total_gb: float | None) -> None:
    """Pretend there is one CUDA GPU with ``total_gb`` (None: no GPU)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: total_gb is not None)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0 if total_gb is None else 1)
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda i: SimpleNamespace(total_memory=int((total_gb or 0) * GIB), name="Fake GPU"))


def test_model_cpu_offload_passes_through(folder: Path, monkeypatch) -> None:
    from diffusers import QwenImageLayeredPipeline

    _fake_cuda(monkeypatch, 80.0)
    calls = []
    monkeypatch.setattr(QwenImageLayeredPipeline, "enable_model_cpu_offload",
                        lambda self, gpu_id=None, device=None: calls.append(device))
    p = QwenLayeredDecomposePipeline.from_pretrained(folder, enable_model_cpu_offload=True,
                                                     torch_dtype=torch.float32)
    assert calls == ["cuda:0"] and p.dtype == torch.float32


def test_missing_folder_names_the_download(tmp_path: Path) -> None:
    with pytest.raises(PipelineError) as err:
        QwenLayeredDecomposePipeline.from_pretrained(tmp_path / "nowhere")
    assert "does not exist" in str(err.value)
    assert f"hf download {HUB_ID} --local-dir {tmp_path / 'nowhere'}" in str(err.value)


def test_incomplete_folder_names_missing_files(folder: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    for f in (broken / "transformer").glob("*.safetensors"):
        f.unlink()
    (broken / "vae" / "diffusion_pytorch_model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"a": "diffusion_pytorch_model-00002-of-00002.safetensors"}}))
    with pytest.raises(PipelineError) as err:
        QwenLayeredDecomposePipeline.from_pretrained(broken, device="cpu")
    msg = str(err.value)
    assert "transformer/*.safetensors" in msg
    assert "vae/diffusion_pytorch_model-00002-of-00002.safetensors" in msg
    assert "hf download" in msg and "\n" not in msg


def test_hub_id_not_cached_and_offline(tmp_path: Path) -> None:
    with pytest.raises(PipelineError) as err:
        QwenLayeredDecomposePipeline.from_pretrained("qwen-image-layered", cache_dir=tmp_path,
                                                     local_files_only=True)
    msg = str(err.value)
    assert "not in the hub cache" in msg and f"hf download {HUB_ID} --local-dir" in msg


@pytest.fixture()
def big_folder(folder: Path, tmp_path: Path) -> Path:
    """The tiny folder with a transformer whose weights declare 20 B parameters (as upstream's)."""
    big = tmp_path / "big"
    shutil.copytree(folder, big)
    for f in (big / "transformer").glob("*.safetensors"):
        f.unlink()
    _fake_big_safetensors(big / "transformer" / "diffusion_pytorch_model.safetensors", 20_000_000_000)
    return big


def test_big_model_without_gpu_says_what_it_needs(big_folder: Path, monkeypatch) -> None:
    _fake_cuda(monkeypatch, None)
    with pytest.raises(PipelineError) as err:
        QwenLayeredDecomposePipeline.from_pretrained(big_folder)
    msg = str(err.value)
    assert "needs a CUDA GPU with >= 43 GB (found none)" in msg and "device='cpu'" in msg
    with pytest.raises(PipelineError, match="enable_model_cpu_offload=True needs a CUDA GPU"):
        QwenLayeredDecomposePipeline.from_pretrained(big_folder, enable_model_cpu_offload=True)


def test_big_model_on_a_small_gpu_says_what_it_needs(big_folder: Path, monkeypatch) -> None:
    _fake_cuda(monkeypatch, 24.0)
    with pytest.raises(PipelineError) as err:
        QwenLayeredDecomposePipeline.from_pretrained(big_folder)
    assert "needs a CUDA GPU with >= 43 GB (found cuda:0 'Fake GPU' with 24 GB)" in str(err.value)


def test_device_plans() -> None:
    params = {"transformer": 20_000_000_000, "text_encoder": 8_000_000_000, "vae": 100_000_000}
    plan = plan_device(params, "cpu", None, False)
    assert (plan.device, plan.dtype, plan.offload) == ("cpu", torch.float32, False)
    with pytest.raises(PipelineError, match="device 'mps' is not supported"):
        plan_device(params, "mps", None, False)


def test_device_plan_suggests_offload_when_it_would_fit(monkeypatch) -> None:
    params = {"transformer": 20_000_000_000, "text_encoder": 8_000_000_000, "vae": 100_000_000}
    _fake_cuda(monkeypatch, 48.0)
    with pytest.raises(PipelineError) as err:
        plan_device(params, None, None, False)
    assert "needs a CUDA GPU with >= 60 GB" in str(err.value)
    assert "pass enable_model_cpu_offload=True (needs >= 43 GB)" in str(err.value)
    plan = plan_device(params, None, None, True)
    assert (plan.device, plan.dtype, plan.offload) == ("cuda:0", torch.bfloat16, True)


@pytest.mark.parametrize("cached", ["nothing", "configs"])
def test_hub_download_is_refused_before_the_weights(folder: Path, tmp_path: Path, monkeypatch,
                                                    cached: str) -> None:
    """Online, weights not cached: only configs are fetched; a 20 B transformer without a GPU stops there."""
    import huggingface_hub
    from huggingface_hub import constants
    from huggingface_hub.errors import LocalEntryNotFoundError

    configs = tmp_path / "configs"
    for src in folder.rglob("*.json"):
        dst = configs / src.relative_to(folder)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dst)
    cfg = json.loads((configs / "transformer" / "config.json").read_text())
    cfg.update(in_channels=64, out_channels=16, num_layers=60, attention_head_dim=128, num_attention_heads=24,
               joint_attention_dim=3584, axes_dims_rope=[16, 56, 56])  # upstream's size: 20.4 B parameters
    (configs / "transformer" / "config.json").write_text(json.dumps(cfg))
    calls = []

    def fake_snapshot_download(repo_id, cache_dir=None, local_files_only=False, allow_patterns=None, **kw):
        calls.append("cache" if local_files_only else "configs" if allow_patterns else "weights")
        if local_files_only and cached == "nothing":
            raise LocalEntryNotFoundError("not cached")
        return str(configs)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    _fake_cuda(monkeypatch, None)
    with pytest.raises(PipelineError, match=r"needs a CUDA GPU with >= 4\d GB \(found none\)"):
        QwenLayeredDecomposePipeline.from_pretrained(HUB_ID, cache_dir=tmp_path)
    assert calls == ["cache", "configs"]
