"""The layer plan: what a caption asks for, bottom to top, as data that can be shown, edited and given back.

A :class:`LayerPlan` has one :class:`Background` (the opaque bottom layer) and a list of
:class:`PlanLayer` entries above it, bottom to top: objects (a phrase, its vocabulary colour and
shape, a rough place and a box) and text layers (a quoted string, its colour and font style). It
round-trips through JSON (:meth:`LayerPlan.to_json` / :meth:`LayerPlan.from_json`); a plan read
from a file is checked field by field and a bad one raises :class:`PlanError` naming the file and
the field.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from layerdiff.data.synth_vocab import COLORS, FONTS, SHAPES
from layerdiff.errors import LayerdiffError

from .colours import SHADE_WORDS_HELP, is_colour

Box = tuple[float, float, float, float]

BACKGROUND_KINDS = ("solid", "linear", "radial", "stripes", "dots", "scene")
"""solid: one colour; linear / radial: a gradient from ``colors[0]`` to ``colors[1]``; stripes / dots: a
two-colour pattern; scene: anything else (a photo, a texture), drawn from its phrase."""

LAYER_KINDS = ("object", "text")

PLACES = ("center", "top", "bottom", "left", "right", "top left", "top right", "bottom left", "bottom right")
"""Rough places an object may be asked for; the layout turns them into boxes."""


class PlanError(LayerdiffError, ValueError):
    """A layer plan that cannot be used: ``str(err)`` is one line naming the source and the problem."""


@dataclass
class Background:
    """The bottom layer: an opaque background.

    ``colors``: colour names (a vocabulary colour or a shade of one: "light green", "sky blue";
    :mod:`layerdiff.planning.colours`), one for solid, two (from, to) for gradients and patterns, none or
    some for a scene. ``angle``: direction of a linear gradient in degrees (0: left to right, 90: top to
    bottom). ``phrase``: the words the caption used (the scene's description for a scene).
    """

    kind: str = "solid"
    colors: list[str] = field(default_factory=list)
    phrase: str = ""
    angle: float = 90.0


@dataclass
class PlanLayer:
    """One layer above the background.

    kind "object": ``phrase`` is what is generated ("a red star", in the model's words: a shade's family);
    ``color`` / ``shape`` are the colour (a vocabulary colour or a shade of one, as for :class:`Background`)
    and vocabulary shape it names (None: none named). kind "text": ``text`` is the string drawn typographically
    in ``color`` (white when None) and the font ``style`` (a :data:`layerdiff.data.synth_vocab.FONTS` name).
    ``place``: a :data:`PLACES` entry or None; ``box``: (x0, y0, x1, y1) normalised to [0, 1], where the layer
    goes (None: the layout picks one).
    """

    kind: str = "object"
    phrase: str = ""
    color: str | None = None
    shape: str | None = None
    text: str | None = None
    style: str | None = None
    place: str | None = None
    box: Box | None = None


@dataclass
class LayerPlan:
    """A caption's plan: the background and the layers above it, bottom to top."""

    background: Background
    layers: list[PlanLayer] = field(default_factory=list)
    caption: str = ""

    @property
    def num_layers(self) -> int:
        """Layers of the image the plan makes, background included."""
        return 1 + len(self.layers)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for lay in d["layers"]:
            lay["box"] = None if lay["box"] is None else [float(v) for v in lay["box"]]
        return d

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Any, source: str = "plan") -> LayerPlan:
        """A plan from its dict form; anything malformed raises :class:`PlanError` naming ``source`` and the field."""
        if not isinstance(data, dict):
            raise PlanError(f"{source}: expected a JSON object with 'background' and 'layers'")
        unknown = set(data) - {"background", "layers", "caption"}
        if unknown:
            raise PlanError(f"{source}: unknown field(s) {sorted(unknown)}")
        bg = _background(data.get("background"), source)
        raw_layers = data.get("layers", [])
        if not isinstance(raw_layers, list):
            raise PlanError(f"{source}: 'layers' must be a list")
        layers = [_layer(item, f"{source}: layers[{i}]") for i, item in enumerate(raw_layers)]
        caption = data.get("caption", "")
        if not isinstance(caption, str):
            raise PlanError(f"{source}: 'caption' must be a string")
        return cls(background=bg, layers=layers, caption=caption)

    @classmethod
    def from_json(cls, text: str, source: str = "plan") -> LayerPlan:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise PlanError(f"{source}: not valid JSON ({err.msg} at line {err.lineno})") from None
        return cls.from_dict(data, source)


def load_plan(path: str | Path) -> LayerPlan:
    """Read a plan JSON file (as written by ``--show-plan`` or :func:`save_plan`)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise PlanError(f"{p}: cannot read the plan ({err.__class__.__name__})") from None
    return LayerPlan.from_json(text, str(p))


def save_plan(plan: LayerPlan, path: str | Path) -> None:
    """Write a plan as JSON, atomically (a temporary file renamed into place)."""
    from layerdiff.atomic import atomic_path

    with atomic_path(path) as tmp:
        Path(tmp).write_text(plan.to_json() + "\n", encoding="utf-8")


# ------------------------------------------------------------------------------------------- checks
def _colour(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not is_colour(value):
        raise PlanError(f"{where}: colour {value!r} is not {SHADE_WORDS_HELP} (vocabulary: {', '.join(COLORS)})")
    return " ".join(value.lower().split())


def _background(data: Any, source: str) -> Background:
    where = f"{source}: background"
    if not isinstance(data, dict):
        raise PlanError(f"{where}: expected an object with 'kind' and 'colors'")
    unknown = set(data) - {"kind", "colors", "phrase", "angle"}
    if unknown:
        raise PlanError(f"{where}: unknown field(s) {sorted(unknown)}")
    kind = data.get("kind", "solid")
    if kind not in BACKGROUND_KINDS:
        raise PlanError(f"{where}: kind {kind!r} is not one of {', '.join(BACKGROUND_KINDS)}")
    colors = data.get("colors", [])
    if not isinstance(colors, list):
        raise PlanError(f"{where}: 'colors' must be a list of colour names")
    colors = [_colour(c, where) for c in colors]
    need = {"solid": 1, "linear": 2, "radial": 2, "stripes": 2, "dots": 2}.get(kind, 0)
    if len(colors) < need:
        raise PlanError(f"{where}: a {kind} background needs {need} colour(s), got {len(colors)}")
    phrase = data.get("phrase", "")
    if not isinstance(phrase, str):
        raise PlanError(f"{where}: 'phrase' must be a string")
    if kind == "scene" and not phrase.strip():
        raise PlanError(f"{where}: a scene background needs a phrase")
    angle = data.get("angle", 90.0)
    if isinstance(angle, bool) or not isinstance(angle, (int, float)):
        raise PlanError(f"{where}: 'angle' must be a number of degrees")
    return Background(kind=kind, colors=[c for c in colors if c], phrase=phrase, angle=float(angle))


def _layer(data: Any, where: str) -> PlanLayer:
    if not isinstance(data, dict):
        raise PlanError(f"{where}: expected an object")
    unknown = set(data) - {"kind", "phrase", "color", "shape", "text", "style", "place", "box"}
    if unknown:
        raise PlanError(f"{where}: unknown field(s) {sorted(unknown)}")
    kind = data.get("kind", "object")
    if kind not in LAYER_KINDS:
        raise PlanError(f"{where}: kind {kind!r} is not one of {', '.join(LAYER_KINDS)}")
    phrase, text, style = data.get("phrase", ""), data.get("text"), data.get("style")
    if not isinstance(phrase, str):
        raise PlanError(f"{where}: 'phrase' must be a string")
    shape = data.get("shape")
    if shape is not None and shape not in SHAPES:
        raise PlanError(f"{where}: shape {shape!r} is not one of {', '.join(SHAPES)}")
    if kind == "text":
        if not isinstance(text, str) or not text.strip():
            raise PlanError(f"{where}: a text layer needs a non-empty 'text'")
    elif not phrase.strip():
        raise PlanError(f"{where}: an object layer needs a non-empty 'phrase'")
    if style is not None and style not in FONTS:
        raise PlanError(f"{where}: style {style!r} is not one of {', '.join(FONTS)}")
    place = data.get("place")
    if place is not None and place not in PLACES:
        raise PlanError(f"{where}: place {place!r} is not one of {', '.join(PLACES)}")
    return PlanLayer(kind=kind, phrase=phrase, color=_colour(data.get("color"), where), shape=shape,
                     text=text if kind == "text" else None, style=style, place=place,
                     box=check_box(data.get("box"), where))


def check_box(value: Any, where: str) -> Box | None:
    """A box value as a normalised (x0, y0, x1, y1), or None; else :class:`PlanError` naming ``where``."""
    if value is None:
        return None
    if (not isinstance(value, (list, tuple)) or len(value) != 4
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise PlanError(f"{where}: box must be [x0, y0, x1, y1] normalised to [0, 1]")
    x0, y0, x1, y1 = (float(v) for v in value)
    if not (0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0):
        raise PlanError(f"{where}: box {list(value)} is empty or outside [0, 1]")
    return x0, y0, x1, y1
