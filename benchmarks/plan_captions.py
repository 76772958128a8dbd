"""Held-out captions for the layer planner, with the plan each one means (its gold plan).

A generator of its own, written apart from the planner's rules and from the synthetic engine's caption
template ("A solid yellow background with a red circle, ..."): other sentence templates (24), other word
orders, colour and shape words a person types (some of them outside the planner's lexicon), counts,
"with", "next to", "above", "on", quoted strings, gradients. ``heldout_caption(rng)`` draws one
(caption, gold) pair; the gold records, bottom to top, the background (kind, colours) and each layer
(kind, colour, shape, text, place), as :func:`signature` reads a plan.

Three template sets: ``"dev"`` and ``"test"`` differ in templates and words, and the planner's rules were
revised after reading misses of both; ``"blind"`` (:func:`blind_caption`, its own ten templates: requests,
"to the left of", "below", "behind", "on top of it", colour-first phrasings) was written after the last
revision and its figure taken once, before any change (``bench_plan_generate.py --parse-only``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

COLOUR_SAY: dict[str, list[str]] = {
    "red": ["red", "scarlet", "crimson", "cherry red"], "orange": ["orange", "tangerine", "burnt orange"],
    "yellow": ["yellow", "golden", "lemon yellow", "mustard"],
    "green": ["green", "emerald", "lime green", "kelly green"],
    "teal": ["teal", "turquoise", "cyan", "aqua"], "blue": ["blue", "azure", "cobalt", "sky-blue"],
    "navy": ["navy", "navy blue", "dark blue", "indigo"], "purple": ["purple", "violet", "lavender", "plum"],
    "pink": ["pink", "hot pink", "rose", "magenta"], "brown": ["brown", "chocolate", "tan", "chestnut"],
    "black": ["black", "jet-black", "ebony"], "white": ["white", "off-white", "ivory", "snow white"],
    "gray": ["gray", "grey", "silver", "slate grey"],
}
SHAPE_SAY: dict[str, list[tuple[str, str]]] = {  # (singular, plural)
    "circle": [("circle", "circles"), ("dot", "dots"), ("disc", "discs"), ("round shape", "round shapes")],
    "square": [("square", "squares"), ("box", "boxes"), ("tile", "tiles")],
    "rectangle": [("rectangle", "rectangles"), ("bar", "bars"), ("oblong", "oblongs")],
    "triangle": [("triangle", "triangles"), ("triangular shape", "triangular shapes")],
    "star": [("star", "stars"), ("five-pointed star", "five-pointed stars")],
    "ellipse": [("ellipse", "ellipses"), ("oval", "ovals")],
    "rounded rectangle": [("rounded rectangle", "rounded rectangles"), ("rounded box", "rounded boxes"),
                          ("pill shape", "pill shapes")],
    "ring": [("ring", "rings"), ("donut", "donuts"), ("hollow circle", "hollow circles")],
    "heart": [("heart", "hearts"), ("heart shape", "heart shapes")],
}
NUMBER_SAY = {2: ["two", "2", "a pair of"], 3: ["three", "3"], 4: ["four"]}
PLACE_SAY = {
    "top left": ["in the top left corner", "at the upper left", "in the top-left"],
    "top right": ["in the top right corner", "at the upper right", "in the top-right"],
    "bottom left": ["in the bottom left corner", "at the lower left", "in the bottom-left"],
    "bottom right": ["in the bottom right corner", "at the lower right", "in the bottom-right"],
    "top": ["at the top", "along the top", "near the top"], "bottom": ["at the bottom", "near the bottom"],
    "left": ["on the left", "on the left side"], "right": ["on the right", "on the right-hand side"],
    "center": ["in the center", "in the middle", "centered"],
}
WORDS = ["SALE", "Grand Opening", "Hello World", "Summer Fest", "50% OFF", "Join Us", "Big News", "Coffee", "Open Late",
         "Night Market", "Thank You", "Welcome Home"]


def _pick(rng: np.random.Generator, items: list[Any]) -> Any:
    return items[int(rng.integers(len(items)))]


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


class _Gen:
    def __init__(self, rng: np.random.Generator, split: str) -> None:
        self.rng, self.split = rng, split

    def colour(self, name: str) -> str:
        options = COLOUR_SAY[name]
        # dev: the plain names more often; test: any synonym equally
        if self.split == "dev" and self.rng.random() < 0.5:
            return name
        return _pick(self.rng, options)

    def obj(self, avoid: tuple[str, ...] = ()) -> tuple[str, dict[str, Any]]:
        colour = _pick(self.rng, [c for c in COLOUR_SAY if c not in avoid])
        shape = _pick(self.rng, list(SHAPE_SAY))
        sing, _ = _pick(self.rng, SHAPE_SAY[shape])
        c = self.colour(colour)
        form = int(self.rng.integers(3)) if self.split == "test" else 0
        text = [_a(f"{c} {sing}"), _a(f"{sing} in {c}"), _a(f"{c}-colored {sing}")][form]
        return text, {"kind": "object", "color": colour, "shape": shape, "text": None, "place": None}

    def objs_count(self, avoid: tuple[str, ...] = ()) -> tuple[str, list[dict[str, Any]]]:
        n = int(self.rng.integers(2, 5))
        colour = _pick(self.rng, [c for c in COLOUR_SAY if c not in avoid])
        shape = _pick(self.rng, list(SHAPE_SAY))
        _, plural = _pick(self.rng, SHAPE_SAY[shape])
        num = _pick(self.rng, NUMBER_SAY[n])
        gold = [{"kind": "object", "color": colour, "shape": shape, "text": None, "place": None} for _ in range(n)]
        return f"{num} {self.colour(colour)} {plural}", gold

    def background(self) -> tuple[str, dict[str, Any], str]:
        """(phrase, gold background, the background's main colour)."""
        r = self.rng.random()
        c1, c2 = [str(x) for x in self.rng.choice(list(COLOUR_SAY), 2, replace=False)]
        s1, s2 = self.colour(c1), self.colour(c2)
        if r < 0.55:
            phrase = _pick(self.rng, [f"a {s1} background", f"a plain {s1} backdrop", f"a flat {s1} background",
                                      f"{s1}", f"a {s1} canvas"] if self.split == "dev" else
                           [f"a {s1} background", f"a solid {s1} backdrop", f"{s1}", f"a background of {s1}",
                            f"a {s1}-colored background"])
            return phrase, {"kind": "solid", "colors": [c1]}, c1
        if r < 0.85:
            phrase = _pick(self.rng, [f"a {s1} to {s2} gradient", f"a gradient from {s1} to {s2}",
                                      f"a {s1}-to-{s2} gradient background"] if self.split == "dev" else
                           [f"a background fading from {s1} to {s2}", f"a {s1} to {s2} gradient backdrop",
                            f"a vertical gradient from {s1} into {s2}"])
            return phrase, {"kind": "linear", "colors": [c1, c2]}, c1
        phrase = _pick(self.rng, [f"a radial gradient from {s1} to {s2}", f"a radial {s1} to {s2} gradient"])
        return phrase, {"kind": "radial", "colors": [c1, c2]}, c1

    def text(self) -> tuple[str, dict[str, Any]]:
        word = _pick(self.rng, WORDS)
        colour = _pick(self.rng, list(COLOUR_SAY))
        c = self.colour(colour)
        form = _pick(self.rng, [f'the text "{word}" in {c}', f'the words "{word}" in {c} letters',
                                f'{c} text reading "{word}"', f'"{word}" written in {c}'])
        return form, {"kind": "text", "color": colour, "shape": None, "text": word, "place": None}


def heldout_caption(rng: np.random.Generator, split: str = "test") -> tuple[str, dict[str, Any]]:
    """One held-out (caption, gold) pair of the ``split`` ("dev" or "test") template set."""
    g = _Gen(rng, split)
    bg, gold_bg, main = g.background()
    layers: list[dict[str, Any]] = []
    t = int(rng.integers(12))
    if split == "dev":
        t = t % 8
    o1, l1 = g.obj((main,))
    o2, l2 = g.obj((main,))
    cap: str
    if t == 0:
        cap, layers = f"{o1} and {o2} on {bg}", [l1, l2]
    elif t == 1:
        cap, layers = f"{bg.capitalize()} with {o1}", [l1]
    elif t == 2:
        cnt, ls = g.objs_count((main,))
        cap, layers = f"{cnt} against {bg}", ls
    elif t == 3:
        l1["place"], l2["place"] = "left", "right"
        cap, layers = f"{o1} next to {o2}, on {bg}", [l1, l2]
    elif t == 4:
        l1["place"], l2["place"] = "top", "bottom"
        cap, layers = f"{o1} above {o2} with {bg} behind them", [l1, l2]
    elif t == 5:
        tx, lt = g.text()
        cap, layers = f"{bg.capitalize()}, {o1} and {tx}", [l1, lt]
    elif t == 6:
        place = _pick(rng, list(PLACE_SAY))
        l1["place"] = place
        cap, layers = f"{o1} {_pick(rng, PLACE_SAY[place])} on {bg}", [l1]
    elif t == 7:
        cap, layers = f"{o1} sitting on {o2}, {bg}", [l2, l1]
    elif t == 8:
        cap, layers = f"Over {bg}: {o1}, {o2}", [l1, l2]
    elif t == 9:
        tx, lt = g.text()
        place = _pick(rng, ["top", "bottom"])
        lt["place"] = place
        cap, layers = f"A poster with {tx} {_pick(rng, PLACE_SAY[place])}, {o1} in the middle, on {bg}", [l1, lt]
        l1["place"] = "center"
    elif t == 10:
        cnt, ls = g.objs_count((main,))
        cap, layers = f"Draw {cnt} and {o1} over {bg}", ls + [l1]
    else:
        cap, layers = f"{bg.capitalize()} featuring {o1}; {o2} beside it", [l1, l2]
        l1["place"], l2["place"] = "left", "right"
    return cap, {"background": gold_bg, "layers": layers}


def blind_caption(rng: np.random.Generator) -> tuple[str, dict[str, Any]]:
    """One (caption, gold) pair of the ``"blind"`` template set."""
    g = _Gen(rng, "test")
    bg, gold_bg, main = g.background()
    o1, l1 = g.obj((main,))
    o2, l2 = g.obj((main,))
    t = int(rng.integers(10))
    if t == 0:
        cap, layers = f"Make {o1} on {bg}", [l1]
    elif t == 1:
        l1["place"], l2["place"] = "left", "right"
        cap, layers = f"I'd like {o1} to the left of {o2}, with {bg}", [l1, l2]
    elif t == 2:
        l1["place"], l2["place"] = "bottom", "top"
        cap, layers = f"{o1} below {o2}, all on {bg}", [l1, l2]
    elif t == 3:
        cap, layers = f"{o1} behind {o2} on {bg}", [l1, l2]
    elif t == 4:
        cap, layers = f"{o1} on {bg}, and {o2} on top of it", [l1, l2]
    elif t == 5:
        cnt, ls = g.objs_count((main,))
        cap, layers = f"Please draw {cnt} on {bg}", ls
    elif t == 6:
        tx, lt = g.text()
        cap, layers = f"{bg.capitalize()}. In front: {o1}. Also {tx}.", [l1, lt]
    elif t == 7:
        place = _pick(rng, list(PLACE_SAY))
        l1["place"] = place
        cap, layers = f"{bg.capitalize()} and, {_pick(rng, PLACE_SAY[place])}, {o1}", [l1]
    elif t == 8:
        cap, layers = f"{o1}, {o2} - background {bg}", [l1, l2]
    else:
        tx, lt = g.text()
        cnt, ls = g.objs_count((main,))
        cap, layers = f"A flyer: {cnt} over {bg} and {tx}", ls + [lt]
    return cap, {"background": gold_bg, "layers": layers}


def signature(plan_or_gold: Any) -> tuple:
    """What must match for a plan to count as right: background kind and colours; per layer, bottom to top,
    kind, colour, shape, text and place (places only where the gold names one). Colours count by family
    (a planned "light green" is "green")."""
    from layerdiff.eval.generation import colour_family

    d = plan_or_gold if isinstance(plan_or_gold, dict) else plan_or_gold.to_dict()
    bg = d["background"]
    layers = tuple((lay["kind"], colour_family(lay.get("color")) or lay.get("color"), lay.get("shape"),
                    lay.get("text"), lay.get("place")) for lay in d["layers"])
    return (bg["kind"], tuple(colour_family(c) or c for c in bg["colors"]), layers)


def matches(plan: Any, gold: dict[str, Any]) -> bool:
    """Whether ``plan`` reads the caption as ``gold`` does (a place counts only where the gold names one)."""
    got, want = signature(plan), signature(gold)
    if got[:2] != want[:2] or len(got[2]) != len(want[2]):
        return False
    for g, w in zip(got[2], want[2]):
        if g[:4] != w[:4] or (w[4] is not None and g[4] != w[4]):
            return False
    return True
