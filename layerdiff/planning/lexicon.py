"""Words the caption planner knows: synonyms of the vocabulary colours and shapes, counts, places, relations.

Everything maps onto the fixed vocabularies of :mod:`layerdiff.data.synth_vocab` (the names the
model's layer captions use), so "a crimson disc" plans as the layer phrase "a red circle". Light and dark
words before a colour, and the named shades of :data:`SHADE_PHRASES`, make a shade of a vocabulary colour
(:mod:`layerdiff.planning.colours`).
"""

from __future__ import annotations

from layerdiff.data.synth_vocab import COLORS, FONTS, SHAPES

COLOR_WORDS: dict[str, str] = {name: name for name in COLORS}
COLOR_WORDS.update({
    "grey": "gray", "silver": "gray", "slate": "gray", "charcoal": "gray", "ash": "gray",
    "crimson": "red", "scarlet": "red", "ruby": "red", "cherry": "red", "maroon": "red", "vermilion": "red",
    "tangerine": "orange", "amber": "orange", "apricot": "orange", "peach": "orange",
    "golden": "yellow", "gold": "yellow", "lemon": "yellow", "mustard": "yellow", "canary": "yellow",
    "lime": "green", "emerald": "green", "olive": "green", "forest": "green", "mint": "green", "jade": "green",
    "turquoise": "teal", "cyan": "teal", "aqua": "teal", "aquamarine": "teal",
    "azure": "blue", "cobalt": "blue", "sapphire": "blue", "cerulean": "blue",
    "indigo": "navy",
    "violet": "purple", "lavender": "purple", "plum": "purple", "lilac": "purple", "mauve": "purple",
    "magenta": "pink", "fuchsia": "pink", "rose": "pink", "salmon": "pink", "blush": "pink",
    "chocolate": "brown", "tan": "brown", "beige": "white", "bronze": "brown", "caramel": "brown",
    "ebony": "black", "jet": "black", "onyx": "black",
    "ivory": "white", "snow": "white", "cream": "white", "pearl": "white",
    "chestnut": "brown", "khaki": "brown", "ochre": "yellow", "saffron": "yellow", "coral": "pink",
    "burgundy": "red", "wine": "red", "sand": "brown", "sandy": "brown", "denim": "blue", "steel": "gray",
})
"""Colour word -> vocabulary colour name."""

COLOR_PHRASES: dict[str, str] = {
    "navy blue": "navy", "dark blue": "navy", "royal blue": "blue", "bright blue": "blue", "jet black": "black",
    "pitch black": "black", "bright red": "red", "sea green": "teal", "blue green": "teal", "blue-green": "teal",
}
"""Two-word colours that are a vocabulary colour itself, matched before single words and shades."""

LIGHT_WORDS = frozenset({"light", "pale", "pastel"})
"""Words before a colour word that make it a tint toward white ("light green", "pale grey")."""
DARK_WORDS = frozenset({"dark", "deep"})
"""Words before a colour word that make it a shade toward black ("dark red", "deep purple")."""

SHADE_PHRASES: dict[str, tuple[str, str]] = {
    "midnight blue": ("navy", "dark"), "sky blue": ("blue", "light"), "baby blue": ("blue", "light"),
    "baby pink": ("pink", "light"), "hot pink": ("pink", "dark"), "off white": ("white", "dark"),
    "blood red": ("red", "dark"),
}
"""Named shades -> (vocabulary colour, tone: "light" or "dark"); :mod:`layerdiff.planning.colours` draws them.
A light / dark word before any colour word is a shade too (:func:`layerdiff.planning.colours.shade_of`)."""

SHAPE_WORDS: dict[str, str] = {name: name for name in SHAPES if " " not in name}
SHAPE_WORDS.update({
    "dot": "circle", "disc": "circle", "disk": "circle", "orb": "circle", "ball": "circle", "round": "circle",
    "sphere": "circle", "blob": "circle",
    "tile": "square", "box": "square", "cube": "square",
    "rect": "rectangle", "bar": "rectangle", "oblong": "rectangle", "block": "rectangle", "slab": "rectangle",
    "pentagram": "star", "starburst": "star",
    "oval": "ellipse", "egg": "ellipse",
    "donut": "ring", "doughnut": "ring", "hoop": "ring", "annulus": "ring", "loop": "ring",
    "roundrect": "rounded rectangle", "pill": "rounded rectangle",
    "wedge": "triangle", "pyramid": "triangle",
    "banner": "rectangle", "strip": "rectangle", "button": "rounded rectangle",
})
"""Shape noun (singular) -> vocabulary shape name."""

SHAPE_PHRASES: dict[str, str] = {
    "rounded rectangle": "roundrect", "rounded square": "roundrect", "rounded box": "roundrect",
    "round-cornered rectangle": "roundrect", "rounded-corner rectangle": "roundrect",
    "rectangle with rounded corners": "roundrect", "square with rounded corners": "roundrect",
    "rounded rect": "roundrect", "hollow circle": "ring", "circle outline": "ring",
}
"""Several-word shapes, rewritten to one token of :data:`SHAPE_WORDS` before the words are split."""

SHAPE_ADJECTIVES: dict[str, str] = {"triangular": "triangle", "rectangular": "rectangle", "circular": "circle",
                                    "oval": "ellipse", "elliptical": "ellipse", "starry": "star"}
"""Shape adjectives ("a triangular shape"): read as the shape when the part names no shape or object noun."""

PLURALS: dict[str, str] = {"ellipses": "ellipse", "boxes": "box", "discs": "disc", "disks": "disk", "strips": "strip",
                           "loops": "loop", "hoops": "hoop", "cubes": "cube", "pyramids": "pyramid"}

COUNT_WORDS: dict[str, int] = {
    "one": 1, "single": 1, "lone": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "both": 2, "twin": 2, "several": 3, "few": 3, "multiple": 3, "pair": 2, "couple": 2,
    "trio": 3, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "dozen": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
    **{str(n): n for n in range(1, 100)},
}
"""Count word -> number of layers (digits 1-99; a plan's layer count is checked against the model's layer
limit when it is generated, :func:`layerdiff.planning.generate_from_plan`)."""
DETERMINERS = frozenset({"a", "an", "the", "some", "another", "its", "one"})

BACKGROUND_NOUNS = frozenset({"background", "backdrop", "canvas", "wallpaper", "bg", "backgrounds"})
FRAME_NOUNS = frozenset({"poster", "image", "picture", "design", "graphic", "illustration", "composition", "layout",
                         "card", "flyer", "drawing", "artwork", "scene", "slide", "cover", "page", "banner ad",
                         "thumbnail", "sticker sheet", "ad", "advert", "sign", "signboard", "placard", "billboard",
                         "invitation", "postcard", "leaflet"})
"""Words for the whole image: "a blue poster with a star" names the background's colour."""

OBJECT_NOUNS = frozenset({"emoji", "sticker", "photo", "photograph", "panel", "overlay", "vignette",
                          "icon", "logo", "badge", "frame", "arrow", "cloud", "sun", "moon", "tree",
                          "flower", "cat", "dog", "bird", "fish", "house", "car", "leaf", "planet", "rocket",
                          "shadow box"})
"""Nouns of objects outside the shape vocabulary: planned with the words as written as their phrase."""

EXTRA_NOUNS = frozenset({"outline", "border", "shadow", "glow", "stroke", "edge", "edges", "halo"})
"""Nouns of a layer's own decoration ("with a white outline"): they belong to the object before them."""


GRADIENT_WORDS = frozenset({"gradient", "gradation", "fade", "fading", "fades", "ombre", "blend", "blending"})
RADIAL_WORDS = frozenset({"radial", "circular", "centred", "centered", "radiating", "radiates"})
STRIPE_WORDS = frozenset({"striped", "stripes", "stripy", "stripe", "pinstripe", "pinstriped"})
DOT_WORDS = frozenset({"polkadot", "polkadots", "dotted", "spotted", "dots", "spots"})
SCENE_WORDS = frozenset({"photo", "photograph", "texture", "textured", "mottled", "mosaic", "noise", "scene",
                         "landscape", "pattern", "marble", "wood", "paper", "sky", "sunset", "beach", "forest",
                         "grass", "gravel", "brick", "space", "galaxy", "city", "skyline", "wall", "table", "wooden",
                         "desk", "floor", "ocean", "sea", "lake", "mountain", "mountains", "desert", "field", "meadow",
                         "garden", "park", "jungle", "street", "clouds", "underwater"})
"""Words of a photo or texture background ("on a wooden table", "over a photo of a brick wall")."""

SCENE_PLACES = frozenset({"space", "forest", "sky", "city", "beach", "garden", "park", "ocean", "sea", "lake",
                          "desert", "field", "meadow", "jungle", "street", "galaxy", "clouds", "mountains"})
"""Scenes an object can be *in* ("floating in outer space", "in a forest"): "in" before them reads as "on"."""

FONT_WORDS: dict[str, str] = {name: name for name in FONTS}
FONT_WORDS.update({
    "sans serif": "sans", "sans-serif": "sans", "bold sans serif": "bold sans", "bold": "bold sans",
    "italic": "italic sans", "italics": "italic sans", "oblique": "italic sans", "mono": "monospace",
    "monospaced": "monospace", "typewriter": "monospace", "condensed": "condensed bold sans",
    "light": "light sans", "thin": "light sans", "bold italic": "italic sans", "serif bold": "bold serif",
})
"""Font words -> :data:`layerdiff.data.synth_vocab.FONTS` style names (longest match first)."""

PLACE_WORDS: dict[str, str] = {
    "top left": "top left", "upper left": "top left", "top right": "top right", "upper right": "top right",
    "bottom left": "bottom left", "lower left": "bottom left", "bottom right": "bottom right",
    "lower right": "bottom right", "left top": "top left", "right top": "top right", "left bottom": "bottom left",
    "right bottom": "bottom right", "northwest": "top left", "northeast": "top right", "southwest": "bottom left",
    "southeast": "bottom right",
    "top": "top", "upper": "top", "upper part": "top", "upper half": "top", "top half": "top", "north": "top",
    "bottom": "bottom", "lower": "bottom", "lower part": "bottom", "lower half": "bottom", "bottom half": "bottom",
    "south": "bottom", "foot": "bottom", "left": "left", "left side": "left", "left half": "left", "west": "left",
    "right": "right", "right side": "right", "right half": "right", "east": "right",
    "center": "center", "centre": "center", "middle": "center",
}
"""Place phrase (after in / at / on / to / toward the) -> :data:`layerdiff.planning.plan.PLACES` entry."""

RELATIONS: dict[str, str] = {
    "next to": "beside", "beside": "beside", "besides": "beside", "alongside": "beside",
    "to the left of": "left of", "left of": "left of", "to the right of": "right of", "right of": "right of",
    "above": "above", "over": "on", "below": "below", "under": "below", "beneath": "below", "underneath": "below",
    "on top of": "on", "in front of": "on", "on": "on", "upon": "on", "atop": "on", "onto": "on", "against": "on",
    "inside": "on", "within": "on", "in the middle of": "on", "behind": "behind", "in back of": "behind",
    "around": "around", "surrounding": "around", "encircling": "around", "circling": "around",
}
"""Relation words between two parts of a caption -> the relation the layout applies."""

SPLIT_WORDS = frozenset({"with", "featuring", "showing", "containing", "has", "have", "having", "plus", "includes",
                         "including", "holding", "where", "while", "whereas", "then", "also"})
"""Words after which a new part of the caption starts (as after a comma)."""

STOP_WORDS = frozenset({"a", "an", "the", "some", "of", "is", "are", "there", "it", "its", "this", "that", "which",
                        "in", "at", "to", "and", "sits", "sit", "sitting", "placed", "shown", "drawn", "appears",
                        "lies", "floats", "floating", "stands", "standing", "set", "positioned", "located",
                        "colored", "coloured", "painted", "tinted", "filled", "shaded", "big", "large", "small",
                        "tiny", "huge", "little", "medium", "sized", "shape", "shapes", "shaped", "plain", "solid",
                        "flat", "simple", "bright", "dark", "light", "pale", "deep", "vivid", "nice", "pretty",
                        "cute", "very", "each", "one", "other", "also", "both", "all", "side", "by", "just", "them",
                        "they", "these", "those", "everything", "me", "us", "draw", "make", "show", "create", "put",
                        "add", "please", "i", "want", "need", "place", "front", "foreground", "back", "here",
                        "like", "would", "d",
                        "form", "object", "objects", "thing", "things", "figure", "figures", "symbol"})
"""Words that alone never make an object."""
