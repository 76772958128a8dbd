"""Training batches and task assignment for the layer-aware transformer.

A batch holds B layered samples padded to a common frame count. Each sample gets one task,
which fixes its known frames (see :mod:`layerdiff.frames`):

- ``generate``: nothing known (text -> layers; with probability ``p_boxes`` the layer boxes are
  given as region hints);
- ``decompose``: the composite is known;
- ``edit``: every layer but one is known (the prompt is that layer's caption; its box is a hint
  half the time, which also teaches inserting into a box);
- ``refer``: composite known; frames are [background, object] and the object's point / box /
  mask prompt is its region hint (referring extraction);
- ``text2rgba``: one transparent layer from its caption (frames [layer, composite]).

Padding layer frames (alpha 0) sit above the real layers; they are unknown in ``generate`` and
``decompose``, which teaches the model to leave frames empty: the automatic layer count.

Layer phrases (see :mod:`layerdiff.frames`): in ``generate``, ``edit`` and ``text2rgba`` each layer
frame gets its own caption as its phrase with probability ``p_phrases`` (all of a sample's phrases
are dropped together otherwise, so the model also works from the caption alone); in ``edit`` the
known layers keep theirs only half the time (users' layers rarely have captions); ``decompose`` and
``refer`` get none.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from layerdiff.referring import box_map, referring_prompt_map

STAGES: dict[str, dict[str, float]] = {
    "text2rgba": {"text2rgba": 0.5, "generate": 0.5},
    "text2layers": {"generate": 0.7, "text2rgba": 0.1, "decompose": 0.2},
    "decompose": {"decompose": 0.6, "edit": 0.15, "generate": 0.1, "refer": 0.15},
    "generate_edit": {"generate": 0.6, "edit": 0.2, "text2rgba": 0.1, "decompose": 0.1},
}
"""Task mixtures of the training stages (Qwen-Image-Layered trains text->RGBA, text->multi-RGBA,
then image->multi-RGBA; we keep earlier tasks in the mix so one model serves all of them).
``generate_edit`` follows ``decompose`` to teach the layer phrases (generation and editing)."""


@dataclass
class FrameBatch:
    """Pixel-space frames for one step. ``frames``: (B, F, 4, H, W), composite last."""

    frames: torch.Tensor
    known: torch.Tensor  # (B, F) bool
    valid: torch.Tensor  # (B, F) bool: frames that count in the loss when unknown
    region: torch.Tensor  # (B, F, H, W) hint maps in [0, 1]
    prompts: list[str]
    tasks: list[str]
    phrases: list[list[str]]  # per sample, per frame: the frame's layer phrase ("" = none)

    def pin_memory(self) -> FrameBatch:
        """Page-locked copy (what a DataLoader with ``pin_memory=True`` calls), for fast copies to a GPU."""
        return replace(self, frames=self.frames.pin_memory(), region=self.region.pin_memory())

    def to(self, device: torch.device | str) -> FrameBatch:
        """The same batch with its tensors on ``device`` (non-blocking from pinned memory)."""
        return replace(self, frames=self.frames.to(device, non_blocking=True), known=self.known.to(device),
                       valid=self.valid.to(device), region=self.region.to(device, non_blocking=True))


def _box_map(box: tuple[float, float, float, float] | None, h: int, w: int) -> np.ndarray:
    return np.zeros((h, w), np.float32) if box is None else box_map(box, h, w)


def _unoccluded(stack: np.ndarray) -> list[int]:
    """Indices (>= 1) of layers that no layer above overlaps: what a user can peel off next."""
    hard = stack[..., 3] > 0  # (n, H, W)
    above = np.zeros_like(hard[0])
    free = []
    for k in range(len(stack) - 1, 0, -1):
        if not (hard[k] & above).any() and hard[k].any():
            free.append(k)
        above |= hard[k]
    return free


def build_batch(samples: list, stage: str, max_layers: int, rng: np.random.Generator,
                p_drop_text: float = 0.1, p_boxes: float = 0.5, p_phrases: float = 0.8) -> FrameBatch:
    """Assign tasks and pad. ``samples``: objects with ``layers`` (LayeredImage), ``caption``,
    ``layer_captions`` and ``boxes`` (normalised, per layer), as made by layerdiff.data.synthetic."""
    mixture = STAGES[stage]
    names, probs = list(mixture), np.array(list(mixture.values()))
    task_of_batch = str(rng.choice(names, p=probs / probs.sum()))  # one task per batch: exact frame layout
    tasks = [task_of_batch] * len(samples)
    stacks = [s.layers.to_numpy() for s in samples]  # each (n, H, W, 4)
    h, w = stacks[0].shape[1:3]
    most = max(min(len(st), max_layers) for st in stacks)
    if task_of_batch == "text2rgba":
        lf = 1
    elif task_of_batch == "refer":
        lf = 2
    elif task_of_batch == "edit":
        lf = most
    else:  # decompose / generate: padding frames on top teach the automatic layer count
        lf = int(rng.integers(most, max_layers + 1))
    b = len(samples)
    frames = np.zeros((b, lf + 1, h, w, 4), np.float32)
    region = np.zeros((b, lf + 1, h, w), np.float32)
    known = np.zeros((b, lf + 1), bool)
    valid = np.ones((b, lf + 1), bool)
    prompts, phrases = [], []
    for i, (task, st, s) in enumerate(zip(tasks, stacks, samples)):
        row = [""] * (lf + 1)
        n = min(len(st), max_layers)
        layers, caps, boxes = st[:n], list(s.layer_captions[:n]), list(s.boxes[:n])
        if len(st) > max_layers:  # merge the overflow into the top kept layer
            from layerdiff.layered import LayeredImage

            top = LayeredImage.from_numpy(st[max_layers - 1 :]).composite()
            layers = np.concatenate([st[: max_layers - 1], top[None]])
        prompt = s.caption
        if task == "text2rgba":
            j = int(rng.integers(1, len(st))) if len(st) > 1 else 0
            frames[i, 0] = st[j]
            frames[i, -1] = st[j]
            prompt = s.layer_captions[j]
            row[0] = prompt
        elif task == "refer":
            free = _unoccluded(st)
            j = int(rng.choice(free)) if free else (int(rng.integers(1, len(st))) if len(st) > 1 else 0)
            rest = [k for k in range(len(st)) if k != j]
            from layerdiff.layered import LayeredImage

            frames[i, 0] = LayeredImage.from_numpy(st[rest]).composite() if rest else 0
            frames[i, 1] = st[j]
            frames[i, -1] = s.layers.composite()
            kind = str(rng.choice(["point", "box", "mask", "phrase"]))
            if kind == "phrase":
                prompt = s.layer_captions[j]
            else:
                region[i, 1] = referring_prompt_map(st[j][..., 3], kind, rng)
                prompt = s.layer_captions[j] if rng.random() < 0.3 else ""
            known[i, -1] = True
        else:
            frames[i, :n] = layers
            frames[i, -1] = s.layers.composite()
            if task == "decompose":
                known[i, -1] = True
                if rng.random() < 0.5:
                    prompt = ""
            elif task == "edit" and n > 1:
                k = int(rng.integers(1, n))
                known[i, :n] = True
                known[i, k] = False
                prompt = caps[k]
                row[:n] = caps if rng.random() < 0.5 else [""] * n  # the other layers' phrases half the time
                row[k] = caps[k]
                if rng.random() < 0.5:
                    region[i, k] = _box_map(boxes[k], h, w)
                valid[i, n:-1] = False  # no padding frames in edits
            elif task == "generate":
                row[:n] = caps
                if rng.random() < p_boxes:
                    for k in range(n):
                        region[i, k] = _box_map(boxes[k] if k > 0 else (0, 0, 1, 1), h, w)
        if rng.random() < p_drop_text:
            prompt = ""
        prompts.append(prompt)
        phrases.append(row if rng.random() < p_phrases else [""] * (lf + 1))
    t = torch.from_numpy(frames).permute(0, 1, 4, 2, 3).contiguous()  # (B, F, 4, H, W)
    return FrameBatch(t, torch.from_numpy(known), torch.from_numpy(valid), torch.from_numpy(region),
                      prompts, tasks, phrases)


@dataclass
class PsdSample:
    """A PSD-extracted stack in the shape of a synthetic sample (what :func:`build_batch` reads)."""

    layers: object  # LayeredImage
    caption: str
    layer_captions: list[str]
    boxes: list[tuple[float, float, float, float] | None]


def psd_sample(path, size: int, max_layers: int) -> PsdSample:
    """Read one PSD shard and centre it on a transparent size x size canvas (scaled down to fit)."""
    from PIL import Image

    from layerdiff.data.shards import read_shard
    from layerdiff.layered import Layer, LayeredImage

    rec = read_shard(path)
    stack = rec.layers.astype(np.float32) / 255.0  # (L, H, W, 4)
    h, w = stack.shape[1:3]
    scale = min(1.0, size / max(h, w))
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    canvas = np.zeros((len(stack), size, size, 4), np.float32)
    y0, x0 = (size - nh) // 2, (size - nw) // 2
    for i, layer in enumerate(stack):
        if (nh, nw) != (h, w):
            pre = np.concatenate([layer[..., :3] * layer[..., 3:], layer[..., 3:]], -1)
            pre = np.stack([np.asarray(Image.fromarray(pre[..., c], "F").resize((nw, nh), Image.Resampling.BOX))
                            for c in range(4)], -1)
            a = np.clip(pre[..., 3:], 0, 1)
            layer = np.concatenate([np.divide(pre[..., :3], a, out=np.zeros_like(pre[..., :3]), where=a > 1e-6), a], -1)
        canvas[i, y0 : y0 + nh, x0 : x0 + nw] = np.clip(layer, 0, 1)
    layered = LayeredImage((size, size), [Layer(p) for p in canvas[:max_layers]])
    boxes = []
    for lay in layered:
        box = lay.content_bbox()
        boxes.append(None if box is None else (box[0] / size, box[1] / size, box[2] / size, box[3] / size))
    caps = list(rec.layer_captions[: len(layered)]) + [""] * max(0, len(layered) - len(rec.layer_captions))
    return PsdSample(layered, rec.caption, caps, boxes)
