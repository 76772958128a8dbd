"""Evaluation: the LayerD decomposition metric and the harness behind ``layerdiff eval``."""

from __future__ import annotations

from .harness import EvalSample, folder_samples, markdown_table, run_eval, summarize, synthetic_samples
from .metric import evaluate_pair, group_top_layers, pair_cost, psnr, rgb_l1, soft_iou

__all__ = [
    "evaluate_pair", "group_top_layers", "pair_cost", "psnr", "rgb_l1", "soft_iou",
    "EvalSample", "folder_samples", "synthetic_samples", "run_eval", "summarize", "markdown_table",
]
