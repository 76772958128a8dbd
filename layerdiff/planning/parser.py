"""Caption -> :class:`~layerdiff.planning.plan.LayerPlan`, by rules over the vocabulary (no learned part).

The caption is cut into *parts* at commas, "with", "and" (when the words before it already named
something) and relation words ("on", "next to", "above", ...). Each part is read on its own:

- a **background** part names a background noun ("background", "backdrop", a colour after "on" /
  "against" with nothing else, a gradient, stripes, polka dots, a photo or texture background, or a
  coloured frame noun: "a blue poster");
- a **text** part holds quoted strings (each one a text layer: its colour and font style are the
  colour and font words of the part);
- a **decoration** part ("a white outline", "a soft shadow", "red polka dots") belongs to the part before;
- a **place** part ("at the top") places the object before it, or the next one when it comes first;
- any other part with a shape noun, an object noun or a determiner and content words is an **object**
  part: its count ("two", "a pair of", or one per colour in "red and blue stars") expands into several
  layers, one colour each.

Before cutting, misspelt colour, shape and background words are corrected (:func:`_typo`: a doubled or
undoubled letter, two swapped neighbours, or one edit in words of six letters or more, only for words the
lexicon does not know), "red -> blue" reads as "red to blue", and "in outer space" / "in a forest" as
"on" a scene. A part that only names colours right after an object part ("a star, bright yellow, on
...") or hands them out ("two stars ..., one red and one white") colours the uncoloured objects of the
last object part, in order. A gradient's colours may come in a part of their own ("a radial gradient,
white in the center fading to blue"); a gradient or pattern named without two colours is completed (its
colour or white, to black or white). A scene part ("a photo of a brick wall", "a wooden table") after
"on" / "over" / "in front of" is the background.

Relations between an object or text part and the next one set places ("A next to B": A left, B right; "A above
B": A top, B bottom) or the stacking ("A on B": B goes under A and A is placed inside B; "A behind B": A
under B). Layers come bottom to top in the order of the caption, then those moves, then the text
layers on top. Every synonym maps onto the vocabulary (:mod:`layerdiff.planning.lexicon`), so object
phrases are the model's own layer captions ("a crimson disc" -> "a red circle"). A shade ("light green",
"deep purple", "sky blue") stays in the plan's colour fields, to be drawn exactly where the layer is drawn
(:mod:`layerdiff.planning.colours`), while object phrases name its family ("a purple circle"). With no
background named, the background is solid white. Boxes come from :func:`layerdiff.planning.layout.assign_boxes`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from layerdiff.data.synth_vocab import PHOTOS, article

from .colours import family
from .layout import assign_boxes
from .lexicon import (
    BACKGROUND_NOUNS,
    COLOR_PHRASES,
    COLOR_WORDS,
    COUNT_WORDS,
    DARK_WORDS,
    DETERMINERS,
    DOT_WORDS,
    EXTRA_NOUNS,
    FONT_WORDS,
    FRAME_NOUNS,
    GRADIENT_WORDS,
    LIGHT_WORDS,
    OBJECT_NOUNS,
    PLACE_WORDS,
    PLURALS,
    RADIAL_WORDS,
    RELATIONS,
    SCENE_PLACES,
    SCENE_WORDS,
    SHADE_PHRASES,
    SHAPE_ADJECTIVES,
    SHAPE_PHRASES,
    SHAPE_WORDS,
    SPLIT_WORDS,
    STOP_WORDS,
    STRIPE_WORDS,
)
from .plan import Background, LayerPlan, PlanError, PlanLayer

_QUOTE = re.compile(r'"([^"]+)"|\u201c([^\u201d]+)\u201d|\u2018([^\u2019]+)\u2019|(?<![\w])\'([^\']+)\'(?![\w])')
_PRONOUNS = frozenset({"it", "them", "this", "that", "these", "those"})
_PLACE_PREPS = r"(?:in|at|on|to|toward|towards|along|near|across)"
_TONE_WORDS = tuple(sorted(LIGHT_WORDS | DARK_WORDS))
_SHADES: dict[str, str] = {"ccc" + name.replace(" ", ""): name for name in SHADE_PHRASES}
_TONED = tuple(w for w in COLOR_WORDS if w not in SCENE_WORDS)  # "a dark forest" is a scene, not a shade
_SHADES.update({f"ccc{tone}{word}": f"{tone} {word}" for tone in _TONE_WORDS for word in _TONED})
"""One-word token of a shade in a normalised caption ("ccclightgreen") -> the shade's plan name ("light green")."""
_COLOURS: dict[str, str] = {**COLOR_WORDS, **_SHADES}
"""Colour word or shade token -> the plan's colour name (a vocabulary colour or a shade)."""


@dataclass
class _Part:
    words: list[str]
    relation: str | None = None  # the relation word that opened this part ("on", "beside", ...)
    colon: bool = False  # the part ended at a colon ("Make me a logo: ...", "Poster: ...")
    quotes: list[int] = field(default_factory=list)


@dataclass
class _Object:
    layer: PlanLayer
    part: int  # index of the caption part it came from


def plan_caption(caption: str) -> LayerPlan:
    """The layer plan of a caption: background, objects and text layers, bottom to top, with boxes.

    Raises :class:`~layerdiff.planning.plan.PlanError` for an empty caption.
    """
    if not isinstance(caption, str) or not caption.strip():
        raise PlanError("caption: empty; describe the image, e.g. 'a red circle on a yellow background'")
    quotes: list[str] = []

    def keep_quote(m: re.Match[str]) -> str:
        quotes.append(next(g for g in m.groups() if g is not None).strip())
        return f" qqq{len(quotes) - 1} "

    text = _QUOTE.sub(keep_quote, caption)
    parts = _split(_normalise(text))
    background: Background | None = None
    background_named = False  # whether the background's part said "background" / "gradient" (not only a scene)
    objects: list[_Object] = []
    texts: list[PlanLayer] = []
    pending_place: str | None = None
    relations: list[tuple[int, str, int]] = []  # (object part, relation, next part)
    last_part_kind = ""
    last_object_part = -1
    thing_parts: list[int] = []  # object and text parts, in caption order
    text_part: dict[int, int] = {}  # id of a text layer -> its part
    for i, part in enumerate(parts):
        kind = _classify(part, background is None, last_part_kind)
        uncoloured = [o.layer for o in objects if o.part == last_object_part and o.layer.color is None]
        if kind in ("background", "extra") and uncoloured and _colour_list(part, last_part_kind):
            # "a star, bright yellow, on ...", "two stars ..., one red and one white": the colours of the
            # uncoloured objects of the last object part, in order
            colours = _colors(part.words)
            more = i + 1 < len(parts) and _colour_list(parts[i + 1], "object")  # "red, white and blue"
            if len(colours) == 1 and not more and part.words[0] not in ("one", "the", "another"):
                colours = colours * len(uncoloured)  # "three hearts (red)": all of them
            for lay, colour in zip(uncoloured, colours):
                lay.color = colour
                lay.phrase = (article(f"{family(colour)} {lay.shape}") if lay.shape
                              else f"{lay.phrase} in {family(colour)}")
            continue
        if kind == "background":
            bg = _background(part.words)
            named = bool(set(part.words) & (BACKGROUND_NOUNS | GRADIENT_WORDS))
            if background is None or (not background.colors and background.kind == "solid" and bg.colors):
                background, background_named = bg, named
            elif named and not background_named and background.kind == "scene" and bg.kind != "scene":
                # "in space on a black background": the background named as such wins over a scene
                background, background_named = bg, named
            elif bg.kind != "solid" and background.kind == "solid" and not background.colors:
                background = bg
            elif background.kind in ("linear", "radial") and not background.colors and len(bg.colors) >= 2:
                background.colors = bg.colors[:2]  # "a radial gradient, white in the center fading to blue"
        elif (kind == "extra" and background is not None and background.kind == "solid" and not background.colors
              and last_part_kind == "background"):
            background.colors = _colors(part.words)[:1]  # "Background: gray"
        elif kind == "pattern" and background is not None:
            _add_pattern(background, part.words)
        elif kind == "text":
            made_texts = _texts(part, quotes)
            texts.extend(made_texts)
            text_part.update((id(lay), i) for lay in made_texts)
        elif kind == "extra":
            if objects and last_part_kind == "object":
                _add_extra(objects, last_object_part, part.words)
            elif texts and last_part_kind == "text":
                _add_text_extra(texts[-1], part.words)
        elif kind == "place":
            place = _places(part.words)[0]
            prev = [o for o in objects if o.part == i - 1]
            if prev and all(o.layer.place is None for o in prev):
                for o in prev:
                    o.layer.place = place
            elif texts and last_part_kind == "text" and texts[-1].place is None:
                texts[-1].place = place
            else:
                pending_place = place
        elif kind == "object":
            made = _objects(part.words)
            if pending_place is not None:
                for lay in made:
                    lay.place = lay.place or pending_place
                pending_place = None
            objects.extend(_Object(lay, i) for lay in made)
            last_object_part = i
        if part.relation and kind in ("object", "text") and i > 0:
            # the part before: the last object or text part when only its colour came in between
            before = thing_parts[-1] if thing_parts and last_part_kind in ("object", "text") else i - 1
            relations.append((before, part.relation, i))
        elif (part.relation and kind == "none" and set(part.words) & _PRONOUNS and last_part_kind in ("object", "text")
              and len(thing_parts) >= 2):
            # "..., a ring beside it": "it" is the object or text part before the last one
            a, b = thing_parts[-2], thing_parts[-1]
            relations.append((a, "beside", b) if part.relation == "beside" else (b, part.relation, a))
        if kind in ("object", "text"):
            thing_parts.append(i)
        last_part_kind = kind if kind != "extra" else last_part_kind
    layers, nested = _apply_relations(objects, relations, [(lay, text_part[id(lay)]) for lay in texts])
    if background is None:
        background = Background(kind="solid", colors=["white"], phrase="")
    elif not background.colors and background.kind == "solid":
        background.colors = ["white"]
    elif background.kind in ("linear", "radial", "stripes", "dots") and len(background.colors) < 2:
        # a gradient or pattern named without (both) colours: from its colour, or white, to a contrast
        first = background.colors[0] if background.colors else "white"
        background.colors = [first, "black" if first in ("white", "yellow", "pink") else "white"]
    plan = LayerPlan(background=background, layers=layers + texts, caption=caption)
    index = {id(lay): k for k, lay in enumerate(plan.layers)}
    return assign_boxes(plan, {index[id(up)]: index[id(under)] for up, under in nested})


# ------------------------------------------------------------------------------------------ words
def _normalise(text: str) -> str:
    s = " " + text.lower() + " "
    s = s.replace("\u2019", "'").replace("centre", "center").replace("colour", "color")
    s = re.sub(r"\s*(?:\u2192|->|=>|\u27f6)\s*", " to ", s)  # "pink→orange", "red -> blue"
    s = re.sub(r"[a-z]+", lambda m: _typo(m.group(0)), s)
    s = re.sub(r"(\w)'s\b", r"\1", s)
    s = re.sub(r"(\w)'(\w)", r"\1 \2", s)  # "i'd", "don't": the parts are stop words or harmless
    s = re.sub(r"\bpolka[- ]dots?\b", " polkadots ", s)
    s = re.sub(r"\ba (pair|couple|trio|few|dozen) of\b", r" \1 ", s)
    s = re.sub(r"\s[-\u2013\u2014]+\s", " , ", s)  # a spaced dash separates like a comma
    s = re.sub(r"\b(\w+)-(to)-(\w+)\b", r"\1 \2 \3", s)
    numbers = "|".join(k for k in COUNT_WORDS if k.isalpha() or k.isdigit())
    s = re.sub(rf"\b({numbers})-(\w+)", r"\1\2", s)  # "five-pointed", "two-tone": one word, not a count
    s = re.sub(rf"\b({numbers}) (pointed|point|sided|tone|toned)\b", r"\1\2", s)  # "a five pointed star"
    s = re.sub(r"(\w)-(\w)", r"\1 \2", s)
    for phrase, token in sorted(SHAPE_PHRASES.items(), key=lambda kv: -len(kv[0])):
        s = re.sub(rf"\b{re.escape(phrase)}(s|es)?\b", lambda m, t=token: f" {t}{'s' if m.group(1) else ''} ", s)
    for phrase, name in sorted(COLOR_PHRASES.items(), key=lambda kv: -len(kv[0])):
        s = re.sub(rf"\b{re.escape(phrase)}\b", f" {name} ", s)
    # shades keep their tone as one token: "light green" -> "ccclightgreen", "sky blue" -> "cccskyblue"
    for phrase in sorted(SHADE_PHRASES, key=len, reverse=True):
        s = re.sub(rf"\b{re.escape(phrase)}\b", " ccc" + phrase.replace(" ", "") + " ", s)
    words = "|".join(sorted((re.escape(w) for w in _TONED), key=len, reverse=True))
    s = re.sub(rf"\b({'|'.join(_TONE_WORDS)})\s+({words})\b", r" ccc\1\2 ", s)
    # places: "in the top left corner", "at the bottom", "on the left side", "top-left", "centered"
    corner = r"(top|upper|bottom|lower)[ -]?(left|right)|(left|right)[ -](top|bottom)"
    s = re.sub(rf"\b(?:{_PLACE_PREPS}\s+)?(?:the\s+)?(?:{corner})(?:[ -]hand)?(?:\s+(?:corner|side|area|part|edge))?\b",
               lambda m: " ppp" + _corner(m.group(0)) + " ", s)
    single = "|".join(sorted((re.escape(k) for k in PLACE_WORDS if " " not in k or k.split()[1] in
                              ("part", "half", "side")), key=len, reverse=True))
    s = re.sub(rf"\b{_PLACE_PREPS}\s+(?:the\s+)?(?:very\s+)?({single})(?:\s+(?:of\s+the\s+(?:image|canvas|picture|"
               rf"frame|poster|design))|\s+(?:edge|area|corner|region))?\b(?!\s+of\b)",
               lambda m: " ppp" + PLACE_WORDS[m.group(1)].replace(" ", "_") + " ", s)
    s = re.sub(r"\b(?:in|at) the (?:center|middle) of\b", " pppcenter rrron ", s)  # "... of a blue background"
    s = re.sub(r"\b(centered|centred|in the middle|in the center)\b(?!\s+of\b)", " pppcenter ", s)
    # "floating in outer space", "in a forest": a scene the object is in, read as "on" it
    scenes = "|".join(sorted(SCENE_PLACES, key=len, reverse=True))
    s = re.sub(rf"\bin\s+((?:(?:a|an|the)\s+)?(?:[a-z]+\s+){{0,2}}?(?:{scenes}))\b", r" rrron \1", s)
    for phrase in sorted((k for k in RELATIONS if " " in k), key=len, reverse=True):
        s = re.sub(rf"\b{re.escape(phrase)}\b", " rrr" + RELATIONS[phrase].replace(" ", "_") + " ", s)
    s = re.sub(r"([,;:.!?()])", r" \1 ", s)
    return s


def _known_words() -> frozenset[str]:
    words: set[str] = set()
    tables = (COLOR_WORDS, COLOR_PHRASES, SHADE_PHRASES, LIGHT_WORDS, DARK_WORDS, SHAPE_WORDS, SHAPE_PHRASES,
              SHAPE_ADJECTIVES, PLURALS, COUNT_WORDS, DETERMINERS, BACKGROUND_NOUNS, FRAME_NOUNS, OBJECT_NOUNS,
              EXTRA_NOUNS, GRADIENT_WORDS, RADIAL_WORDS,
              STRIPE_WORDS, DOT_WORDS, SCENE_WORDS, SCENE_PLACES, FONT_WORDS, PLACE_WORDS, RELATIONS, SPLIT_WORDS,
              STOP_WORDS)
    for table in tables:
        for key in table:
            words.update(re.findall(r"[a-z]+", key))
    return frozenset(words)


_KNOWN = _known_words()
_TYPO_TARGETS = tuple(sorted({w for w in (*COLOR_WORDS, *SHAPE_WORDS, *BACKGROUND_NOUNS, *GRADIENT_WORDS)
                              if w.isalpha() and len(w) >= 3}))


def _squeeze(w: str) -> str:
    return re.sub(r"(.)\1+", r"\1", w)


def _one_edit(a: str, b: str, swaps_only: bool) -> bool:
    """Whether ``a`` becomes ``b`` by swapping two neighbouring letters or (unless ``swaps_only``) by one
    insertion, deletion or substitution."""
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]:
            return True
        return not swaps_only and len(diff) == 1
    if swaps_only or abs(len(a) - len(b)) != 1:
        return False
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    i = next((k for k in range(len(short)) if short[k] != long_[k]), len(short))
    return short[i:] == long_[i + 1:]


def _typo(word: str) -> str:
    """A misspelt colour, shape or background word as the word meant ("yelow", "sqaure", "backgound"),
    else ``word``. Only words the lexicon does not know, of 4 letters or more, are corrected, by a doubled
    or undoubled letter, two swapped neighbours or, from 6 letters, one other edit; a word that could be
    two different targets stays as written."""
    if len(word) < 4 or word in _KNOWN or _singular(word) in _KNOWN:
        return word
    squeezed = _squeeze(word)
    hits = {t for t in _TYPO_TARGETS if _squeeze(t) == squeezed}
    if not hits:
        hits = {t for t in _TYPO_TARGETS if _one_edit(word, t, swaps_only=len(word) < 6)}
    return hits.pop() if len(hits) == 1 else word


def _corner(text: str) -> str:
    vert = "top" if re.search(r"top|upper", text) else "bottom"
    horiz = "left" if "left" in text else "right"
    return f"{vert}_{horiz}"


def _split(text: str) -> list[_Part]:
    """Cut the normalised caption into parts (see the module docstring)."""
    parts: list[_Part] = []
    cur = _Part([])

    def close(relation: str | None = None) -> None:
        nonlocal cur
        if cur.words:
            parts.append(cur)
            cur = _Part([], relation)
        elif relation is not None:
            cur.relation = relation

    for w in text.split():
        if w == ":" and cur.words:
            cur.colon = True
            close()
        elif w in {",", ";", ":", ".", "!", "?", "(", ")"}:
            close()
        elif w.startswith("rrr"):
            close(w[3:].replace("_", " "))
        elif w in RELATIONS and w not in ("over", "on") or w in ("on", "over", "upon", "onto", "atop"):
            close(RELATIONS[w])
        elif w in SPLIT_WORDS:
            close()
        elif w == "and" and _has_noun(cur.words):
            close()
        elif w in ("is", "are") and cur.words and cur.words[-1] in ("there",):
            cur.words.pop()  # "on a green background there are four dots": what follows is a part of its own
            close()
        else:
            cur.words.append(w)
    close()
    return parts


def _singular(w: str) -> str:
    if w in PLURALS:
        return PLURALS[w]
    if w.endswith("s") and (w[:-1] in SHAPE_WORDS or w[:-1] in OBJECT_NOUNS):
        return w[:-1]
    return w


def _shape_of(w: str) -> str | None:
    return SHAPE_WORDS.get(_singular(w))


def _shape_adjective(words: list[str]) -> int | None:
    """Index of a shape adjective ("triangular") in a part that names no shape or object noun, else None."""
    if any(_shape_of(w) or _singular(w) in OBJECT_NOUNS for w in words):
        return None
    return next((i for i, w in enumerate(words) if w in SHAPE_ADJECTIVES), None)


def _has_noun(words: list[str]) -> bool:
    """Whether a part so far names something ("and" after it starts a new part): a known noun, or a
    determiner or count followed by words ending in one that is neither a stop word nor a colour."""
    if (any(w in DETERMINERS or w in COUNT_WORDS for w in words) and words and words[-1] not in STOP_WORDS
            and words[-1] not in _COLOURS and not words[-1].startswith(("ppp", "rrr"))
            and words[-1] not in COUNT_WORDS):
        return True
    for w in words:
        if (_shape_of(w) or w in SHAPE_ADJECTIVES or w in ("shape", "shapes") or w in BACKGROUND_NOUNS
                or w in OBJECT_NOUNS or _singular(w) in OBJECT_NOUNS
                or w.startswith("qqq") or w in EXTRA_NOUNS or w in GRADIENT_WORDS or w in DOT_WORDS
                or w in STRIPE_WORDS):
            return True
    return False


def _colour_list(part: _Part, last: str) -> bool:
    """Whether a part only lists colours for the objects before it: "bright yellow" right after an object
    part (not after "on" / "against": that is a background), or "one red and one white", "one gold" after
    an object part with a count."""
    words = [w for w in part.words if not w.startswith("ppp")]
    content = [w for w in words if w not in STOP_WORDS and w not in ("and", "or", "other", "another", "one")]
    if not content or not all(w in _COLOURS for w in content) or part.relation is not None:
        return False
    return last == "object" or words[0] in ("one", "the", "another")


def _colors(words: list[str]) -> list[str]:
    """The colours a run of words names, vocabulary colours or shades ("light green"); adjacent colour words
    name one ("cherry red", "lime green": the last)."""
    return [_COLOURS[w] for i, w in enumerate(words)
            if w in _COLOURS and not (i + 1 < len(words) and words[i + 1] in _COLOURS)]


def _plain(words: list[str], shades: bool = False) -> str:
    """Words as a phrase, without place and relation markers; a shade token as its name (``shades``) or as
    its family, the model's word."""
    return " ".join(w if w not in _SHADES else (_SHADES[w] if shades else family(_SHADES[w]))
                    for w in words if not w.startswith(("ppp", "rrr")))


def _places(words: list[str]) -> list[str]:
    return [w[3:].replace("_", " ") for w in words if w.startswith("ppp")]


# ------------------------------------------------------------------------------------------ parts
def _classify(part: _Part, first_background: bool, last: str) -> str:
    words = [w for w in part.words if not w.startswith("ppp")]
    if any(w.startswith("qqq") for w in words):
        return "text"
    content = [w for w in words if w not in STOP_WORDS]
    if not content:
        return "place" if _places(part.words) else "none"
    if any(w in BACKGROUND_NOUNS for w in words):
        return "background"
    shapes = [w for w in words if _shape_of(w)] or ([] if _shape_adjective(words) is None else ["adjective"])
    if part.colon and not shapes and not _colors(words):
        return "none"  # a heading before a colon: "Make me a logo:", "Event flyer:"
    if not shapes and set(words) & GRADIENT_WORDS and len(_colors(words)) >= 2:
        return "background"  # "a radial gradient from yellow in the middle to orange at the edges"
    if any(w in EXTRA_NOUNS for w in words) and not shapes:
        return "extra"
    if any(w in DOT_WORDS or w in STRIPE_WORDS for w in words) and not shapes:
        return "pattern" if not first_background else "background"
    if any(w in GRADIENT_WORDS for w in words) and not shapes and "overlay" not in words:
        return "background"
    if not shapes and part.relation == "on" and first_background and set(words) & SCENE_WORDS:
        return "background"  # "on a wooden table", "over a photo of a brick wall": a scene behind the objects
    nouns = any(_singular(w) in OBJECT_NOUNS or w in FRAME_NOUNS for w in words)
    colour_words = all(w in _COLOURS or w in ("color", "plain", "solid") for w in content)
    named_in = (len(words) >= 4 and words[-2] == "in" and words[0] in DETERMINERS and words[-1] in _COLOURS
                and part.relation is None)  # "a sqare in green": something (unknown) in a colour
    if (not shapes and not nouns and not named_in
            and (colour_words or (content[-1] in _COLOURS and len(content) <= 3))):
        # a colour alone: "on yellow", "against navy", or "... , red" after an object
        return "background" if part.relation == "on" or last in ("", "none") or first_background else "extra"
    if not shapes and any(w in FRAME_NOUNS for w in words) and not any(w in OBJECT_NOUNS for w in words):
        return "background" if _colors(words) else "none"
    if shapes or any(_singular(w) in OBJECT_NOUNS for w in words):
        return "object"
    if any(w in DETERMINERS or w in COUNT_WORDS for w in part.words) or len(content) >= 1:
        return "object"
    return "none"


def _background(words: list[str]) -> Background:
    colors = _colors(words)
    phrase = _plain(words, shades=True)
    ws = set(words)
    named = len(colors) >= 2 or bool(ws & BACKGROUND_NOUNS)  # fewer than two colours: completed by plan_caption
    if ws & DOT_WORDS and named:
        return Background("dots", colors[:2], phrase)
    if ws & STRIPE_WORDS and named:
        return Background("stripes", colors[:2], phrase)
    if ws & GRADIENT_WORDS or ("from" in ws and "to" in ws and len(colors) >= 2):
        kind = "radial" if ws & RADIAL_WORDS else "linear"
        if len(colors) == 1:
            colors = colors + ["white" if colors[0] != "white" else "black"]
        return Background(kind, colors[:2], phrase, _gradient_angle(words))
    photo = next((name for name, p in PHOTOS.items() if p.split()[-1] in ws), None)
    if ws & SCENE_WORDS or photo is not None or (not colors and [w for w in words if w not in STOP_WORDS
                                                                 and w not in BACKGROUND_NOUNS]):
        return Background("scene", colors, phrase)
    return Background("solid", colors[:1], phrase)


def _gradient_angle(words: list[str]) -> float:
    ws = set(words) | {p.split("_")[0] for p in (w[3:] for w in words if w.startswith("ppp"))}
    ws |= {w[3:] for w in words if w.startswith("ppp")}
    if "diagonal" in ws or "diagonally" in ws:
        return 45.0
    if "horizontal" in ws or "sideways" in ws or ("left" in ws and "right" in ws):
        return 0.0
    return 90.0


def _add_pattern(bg: Background, words: list[str]) -> None:
    colors = _colors(words)
    if not colors:
        return
    first = bg.colors[:1] or ["white"]
    bg.colors = first + [c for c in colors if c != first[0]][:1]
    bg.kind = "dots" if set(words) & DOT_WORDS else "stripes"
    bg.phrase = (bg.phrase + " with " + " ".join(words)).strip()


def _objects(words: list[str]) -> list[PlanLayer]:
    """The layers one object part names (several with a count or a list of colours)."""
    count = 0
    for i, w in enumerate(words):
        if w in COUNT_WORDS and not (w == "one" and i + 1 < len(words) and words[i + 1] == "of"):
            count = max(count, COUNT_WORDS[w])
    place = (_places(words) or [None])[0]
    shape_idx = next((i for i, w in enumerate(words) if _shape_of(w)), _shape_adjective(words))
    extras_from = next((i for i, w in enumerate(words) if w in EXTRA_NOUNS or w in ("outlined", "bordered")), None)
    main = words if extras_from is None else words[:extras_from]
    colors = _colors(main)
    if extras_from is not None and shape_idx is not None and extras_from > shape_idx:
        # "a red circle white outline" is unusual; colours right before the extra noun are the extra's
        tail = words[shape_idx + 1:extras_from]
        colors = _colors(words[:shape_idx + 1]) + ([] if _colors(tail) and _colors(words[:shape_idx + 1]) else
                                                    _colors(tail))
    if shape_idx is not None:
        shape = _shape_of(words[shape_idx]) or SHAPE_ADJECTIVES[words[shape_idx]]
        dets = sum(1 for w in words[:shape_idx] if w in ("a", "an"))
        if not count:
            if len(colors) > 1 and ("and" in words[:shape_idx] or "or" in words[:shape_idx]):
                count = len(colors)
            elif dets > 1:
                count = dets
            else:
                count = 1 if not words[shape_idx].endswith("s") or words[shape_idx] in SHAPE_WORDS else 2
        colors = colors or [None]  # type: ignore[list-item]
        out = []
        extra = _extra_phrase(words[extras_from:]) if extras_from is not None else ""
        for k in range(count):
            c = colors[k % len(colors)]
            phrase = article(f"{family(c)} {shape}") if c else article(shape)
            out.append(PlanLayer(kind="object", phrase=phrase + extra, color=c, shape=shape, place=place))
        return out
    phrase = _plain([w for w in words if w not in COUNT_WORDS and w not in ("there", "is", "are")])
    if not phrase.startswith(("a ", "an ", "the ")):
        phrase = article(phrase)
    noun_idx = [i for i, w in enumerate(words) if _singular(w) in OBJECT_NOUNS]
    is_plural = any(words[i].endswith("s") and words[i] != _singular(words[i]) for i in noun_idx)
    n = count or (2 if is_plural else 1)
    color = colors[0] if colors else None
    if n > 1:  # "two palm trees" -> "a palm tree", once per layer
        head = phrase.split()
        if head and head[-1].endswith("s") and not head[-1].endswith("ss"):
            head[-1] = head[-1][:-1]
        phrase = article(" ".join(w for w in head[1:] if w not in ("a", "an")) if head[0] in ("a", "an")
                         else " ".join(head))
    return [PlanLayer(kind="object", phrase=phrase, color=color, shape=None, place=place) for _ in range(n)]


def _extra_phrase(words: list[str]) -> str:
    """' with a white outline' from the decoration words of an object part."""
    colors = _colors(words)
    noun = next((w for w in words if w in EXTRA_NOUNS), "outline")
    noun = {"stroke": "outline", "edge": "outline", "edges": "outline", "halo": "glow"}.get(noun, noun)
    if noun == "shadow":
        return " with a soft shadow"
    return f" with {article(family(colors[0]) + ' ' + noun)}" if colors else ""


def _add_extra(objects: list[_Object], part: int, words: list[str]) -> None:
    extra = _extra_phrase(words)
    if not extra:
        colors = _colors(words)
        for o in objects:
            if o.part == part and o.layer.color is None and colors:
                o.layer.color = colors[0]
                if o.layer.shape:
                    o.layer.phrase = article(f"{family(colors[0])} {o.layer.shape}")
        return
    for o in objects:
        if o.part == part:
            joiner = " and " if " with " in o.layer.phrase else ""
            o.layer.phrase += (joiner + extra.replace(" with ", "", 1)) if joiner else extra


def _add_text_extra(layer: PlanLayer, words: list[str]) -> None:
    extra = _extra_phrase(words)
    if extra:
        layer.phrase += extra


def _font(words: list[str]) -> str | None:
    joined = " " + " ".join(words) + " "
    for phrase in sorted(FONT_WORDS, key=len, reverse=True):
        if f" {phrase} " in joined:
            return FONT_WORDS[phrase]
    return None


def _texts(part: _Part, quotes: list[str]) -> list[PlanLayer]:
    words = part.words
    extras_from = next((i for i, w in enumerate(words) if w in ("outline", "outlined", "border", "glow", "shadow",
                                                                 "stroke")), len(words))
    head = words[:extras_from]
    # an outline colour right before "outline" is the outline's
    if extras_from < len(words) and words[extras_from] in ("outline", "border", "glow", "stroke") and head and \
            head[-1] in _COLOURS:
        head = head[:-1]
    colors = _colors(head)
    style = _font(head)
    place = (_places(words) or [None])[0]
    out = []
    idx = [int(w[3:]) for w in words if w.startswith("qqq") and w[3:].isdigit()]
    for k, q in enumerate(idx):
        if q >= len(quotes):
            continue
        color = colors[min(k, len(colors) - 1)] if colors else None
        string = quotes[q]
        phrase = f'the text "{string}"' + (f" in {color}" if color else "") + (f" {style}" if style else "")
        out.append(PlanLayer(kind="text", phrase=phrase, color=color, text=string, style=style, place=place))
    return out


def _apply_relations(objects: list[_Object], relations: list[tuple[int, str, int]],
                     texts: Sequence[tuple[PlanLayer, int]] = ()
                     ) -> tuple[list[PlanLayer], list[tuple[PlanLayer, PlanLayer]]]:
    """Places and stacking from relations between consecutive parts.

    texts: the text layers with their parts; the places of "A next to / above / below B" apply to them too
    (text stays on top, so stacking relations skip them). Returns the object layers bottom to top and the
    (layer, layer it sits on) pairs of "A on B".
    """
    nested: list[tuple[PlanLayer, PlanLayer]] = []
    order = list(range(len(objects)))
    spatial = {"beside": ("left", "right"), "left of": ("left", "right"), "right of": ("right", "left"),
               "above": ("top", "bottom"), "below": ("bottom", "top")}
    for a_part, rel, b_part in relations:
        if rel == "around":  # "a ring around a dot": the dot sits on (inside) the ring
            a_part, rel, b_part = b_part, "on", a_part
        a = [k for k, o in enumerate(objects) if o.part == a_part]
        b = [k for k, o in enumerate(objects) if o.part == b_part]
        if rel in spatial:
            la = [objects[k].layer for k in a] + [lay for lay, part in texts if part == a_part]
            lb = [objects[k].layer for k in b] + [lay for lay, part in texts if part == b_part]
            if la and lb:
                pa, pb = spatial[rel]
                for lay in la:
                    lay.place = lay.place or pa
                for lay in lb:
                    lay.place = lay.place or pb
            continue
        if not a or not b:
            continue
        if rel in ("on", "behind"):
            under, over = (b, a) if rel == "on" else (a, b)
            # move the lower group just before the first of the upper group
            for k in under:
                order.remove(k)
            at = min(order.index(k) for k in over)
            order[at:at] = under
            if rel == "on":
                anchor = objects[b[0]].layer
                for k in a:
                    objects[k].layer.place = objects[k].layer.place or anchor.place
                    nested.append((objects[k].layer, anchor))
    return [objects[k].layer for k in order], nested
