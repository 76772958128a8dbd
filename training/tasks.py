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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

STAGES: dict[str, dict[str, float]] = {
    "text2rgba": {"text2rgba": 0.5, "generate": 0.5},
    "text2layers": {"generate": 0.7, "text2rgba": 0.1, "decompose": 0.2},
    "decompose": {"decompose": 0.6, "edit": 0.15, "generate": 0.1, "refer": 0.15},
}
"""Task mixtures of the training stages (Qwen-Image-Layered trains text->RGBA, text->multi-RGBA,
then image->multi-RGBA; we keep earlier tasks in the mix so one model serves all of them)."""


@dataclass
class FrameBatch:
    """Pixel-space frames for one step. ``frames``: (B, F, 4, H, W), composite last."""

    frames: torch.Tensor
    known: torch.Tensor  # (B, F) bool
    valid: torch.Tensor  # (B, F) bool: frames that count in the loss when unknown
    region: torch.Tensor  # (B, F, H, W) hint maps in [0, 1]
    prompts: list[str]
    tasks: list[str]


def _box_map(box: tuple[float, float, float, float] | None, h: int, w: int) -> np.ndarray:
    m = np.zeros((h, w), np.float32)
    if box is not None:
        x0, y0, x1, y1 = box
        m[int(y0 * h) : max(int(y0 * h) + 1, int(np.ceil(y1 * h))), int(x0 * w) : max(int(x0 * w) + 1,
                                                                                    int(np.ceil(x1 * w)))] = 1
    return m


def referring_prompt_map(obj_alpha: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Region hint for a referring prompt of ``kind`` ("point", "box", "mask") on object alpha (H, W)."""
    h, w = obj_alpha.shape
    visible = obj_alpha > 0.5
    if not visible.any():
        return np.zeros((h, w), np.float32)
    ys, xs = np.nonzero(visible)
    if kind == "box":
        return _box_map((xs.min() / w, ys.min() / h, (xs.max() + 1) / w, (ys.max() + 1) / h), h, w)
    if kind == "mask":
        return visible.astype(np.float32)
    k = int(rng.integers(len(xs)))  # a point: a small disc around one object pixel
    yy, xx = np.mgrid[0:h, 0:w]
    r = max(2.0, 0.03 * max(h, w))
    return (((yy - ys[k]) ** 2 + (xx - xs[k]) ** 2) <= r * r).astype(np.float32)


def build_batch(samples: list, stage: str, max_layers: int, rng: np.random.Generator,
                p_drop_text: float = 0.1, p_boxes: float = 0.5) -> FrameBatch:
    """Assign tasks and pad. ``samples``: objects with ``layers`` (LayeredImage), ``caption``,
    ``layer_captions`` and ``boxes`` (normalised, per layer), as made by layerdiff.data.synthetic."""
    mixture = STAGES[stage]
    names, probs = list(mixture), np.array(list(mixture.values()))
    tasks = [str(rng.choice(names, p=probs / probs.sum())) for _ in samples]
    stacks = [s.layers.to_numpy() for s in samples]  # each (n, H, W, 4)
    h, w = stacks[0].shape[1:3]
    counts = []
    for task, st in zip(tasks, stacks):
        counts.append(1 if task == "text2rgba" else 2 if task == "refer" else min(len(st), max_layers))
    lf = int(rng.integers(max(counts), max_layers + 1))  # layer frames this step
    b = len(samples)
    frames = np.zeros((b, lf + 1, h, w, 4), np.float32)
    region = np.zeros((b, lf + 1, h, w), np.float32)
    known = np.zeros((b, lf + 1), bool)
    valid = np.ones((b, lf + 1), bool)
    prompts = []
    for i, (task, st, s) in enumerate(zip(tasks, stacks, samples)):
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
            valid[i, 1:-1] = False  # frames beyond the single layer don't count
        elif task == "refer":
            j = int(rng.integers(1, len(st))) if len(st) > 1 else 0
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
            valid[i, 2:-1] = False
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
                if rng.random() < 0.5:
                    region[i, k] = _box_map(boxes[k], h, w)
                valid[i, n:-1] = False  # no padding frames in edits
            elif task == "generate" and rng.random() < p_boxes:
                for k in range(n):
                    region[i, k] = _box_map(boxes[k] if k > 0 else (0, 0, 1, 1), h, w)
        if rng.random() < p_drop_text:
            prompt = ""
        prompts.append(prompt)
    t = torch.from_numpy(frames).permute(0, 1, 4, 2, 3).contiguous()  # (B, F, 4, H, W)
    return FrameBatch(t, torch.from_numpy(known), torch.from_numpy(valid), torch.from_numpy(region),
                      prompts, tasks)
