"""A torchvision-free stand-in for the caption processor of Qwen-Image-Layered, and the upstream loader
that uses it.

transformers' ``Qwen2VLProcessor`` cannot be built without torchvision (its video-processor slot is
checked against a class that only exists with it). Without torchvision, :func:`load_upstream` loads
diffusers' pipeline with ``processor=None`` and gives the auto-caption path (empty prompt) a
:class:`PilQwenVLProcessor`: the slow PIL ``Qwen2VLImageProcessorPil`` plus the pipeline's own tokenizer.
With torchvision installed the stock processor is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..common import PipelineError


class PilQwenVLProcessor:
    """The part of ``Qwen2VLProcessor`` that Qwen-Image-Layered's auto-caption uses, without torchvision.

    ``__call__(text, images)`` expands each ``<|image_pad|>`` to one token per merged vision patch
    (``prod(grid_thw) / merge_size^2``), tokenizes, and returns ``input_ids``, ``attention_mask``,
    ``mm_token_type_ids`` (1 on image tokens; Qwen2.5-VL needs them for its 3D rotary positions),
    ``pixel_values`` and ``image_grid_thw``; ``batch_decode`` is the tokenizer's.
    """

    image_token = "<|image_pad|>"

    def __init__(self, image_processor: Any, tokenizer: Any) -> None:
        self.image_processor = image_processor
        self.tokenizer = tokenizer
        self.image_token_id = int(tokenizer.convert_tokens_to_ids(self.image_token))

    @classmethod
    def from_folder(cls, folder: str | Path, tokenizer: Any) -> PilQwenVLProcessor:
        """Image processor from ``folder/preprocessor_config.json`` (a ``processor/`` subfolder)."""
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

        return cls(Qwen2VLImageProcessorPil.from_pretrained(str(folder)), tokenizer)

    def __call__(self, text: str | Sequence[str], images: Any = None, padding: bool = True,
                 return_tensors: str = "pt") -> Any:
        from transformers import BatchFeature

        if return_tensors != "pt":
            raise PipelineError(f"PilQwenVLProcessor returns torch tensors only, got "
                                f"return_tensors={return_tensors!r}")
        texts = [text] if isinstance(text, str) else list(text)
        data: dict[str, Any] = {}
        if images is not None:
            vision = self.image_processor(images=images, return_tensors="pt")
            data.update(pixel_values=vision["pixel_values"], image_grid_thw=vision["image_grid_thw"])
            merge = int(self.image_processor.merge_size) ** 2
            counts = [int(g.prod()) // merge for g in vision["image_grid_thw"]]  # tokens per image
            if sum(t.count(self.image_token) for t in texts) != len(counts):
                raise PipelineError(f"the text has {sum(t.count(self.image_token) for t in texts)} "
                                    f"{self.image_token} placeholders for {len(counts)} images")
            expanded, k = [], 0
            for t in texts:
                parts = t.split(self.image_token)
                out = parts[0]
                for part in parts[1:]:
                    out += self.image_token * counts[k] + part
                    k += 1
                expanded.append(out)
            texts = expanded
        tokens = self.tokenizer(texts, padding=padding, return_tensors="pt")
        data.update(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"])
        data["mm_token_type_ids"] = (tokens["input_ids"] == self.image_token_id).long()  # (B, T)
        return BatchFeature(data)

    def batch_decode(self, *args: Any, **kwargs: Any) -> list[str]:
        return self.tokenizer.batch_decode(*args, **kwargs)


def load_upstream(folder: Path, dtype: torch.dtype) -> Any:
    """diffusers' ``QwenImageLayeredPipeline.from_pretrained``; without torchvision the processor is
    replaced by :class:`PilQwenVLProcessor` (see the module docstring)."""
    from diffusers import QwenImageLayeredPipeline
    from transformers.utils import is_torchvision_available

    stock = is_torchvision_available()
    kwargs: dict[str, Any] = {"dtype": dtype}
    if not stock:
        kwargs["processor"] = None
    pipe = QwenImageLayeredPipeline.from_pretrained(str(folder), **kwargs)
    if not stock:
        proc_dir = folder / "processor"
        pipe.vl_processor = (PilQwenVLProcessor.from_folder(proc_dir, pipe.tokenizer)
                             if (proc_dir / "preprocessor_config.json").is_file() else None)
    return pipe
