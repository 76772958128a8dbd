"""Caption -> layer plan -> layers: generation from one caption (issue #30).

:func:`plan_caption` reads a caption into a :class:`LayerPlan` (background, objects, text, bottom to
top, with boxes); :func:`generate_from_plan` draws the background exactly, generates each object as
its own layer from its phrase inside its box, and renders quoted text typographically. Planning
imports no torch; ``generate_from_plan`` loads on first use.
"""

from __future__ import annotations

from typing import Any

from .layout import assign_boxes
from .parser import plan_caption
from .plan import BACKGROUND_KINDS, PLACES, Background, LayerPlan, PlanError, PlanLayer, load_plan, save_plan

__all__ = ["BACKGROUND_KINDS", "PLACES", "Background", "LayerPlan", "PlanError", "PlanLayer", "assign_boxes",
           "generate_from_plan", "load_plan", "plan_caption", "save_plan"]


def __getattr__(name: str) -> Any:
    if name == "generate_from_plan":
        from .generate import generate_from_plan

        return generate_from_plan
    raise AttributeError(f"module 'layerdiff.planning' has no attribute {name!r}")
