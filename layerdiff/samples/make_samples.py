"""Generate the bundled sample files: ``poster.psd`` (5 layers) and ``poster.png`` (its composite).

Run ``python -m layerdiff.samples.make_samples`` (or this file) to rebuild them; the output is
deterministic for a given Pillow version. The design: a vertical gradient background, a
translucent circle, a rounded panel with a soft shadow in multiply mode, a title and a subtitle.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from layerdiff.io import save
from layerdiff.layered import Layer, LayeredImage, to_float

SIZE = (512, 384)
SAMPLES_DIR = Path(__file__).resolve().parent


def _gradient(size: tuple[int, int], top: tuple[int, int, int], bottom: tuple[int, int, int]) -> np.ndarray:
    w, h = size
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]  # (H, 1, 1)
    rgb = (1 - t) * np.asarray(top, np.float32) + t * np.asarray(bottom, np.float32)  # (H, 1, 3)
    rgb = np.broadcast_to(rgb, (h, w, 3)) / 255.0
    return np.concatenate([rgb, np.ones((h, w, 1), np.float32)], axis=-1)  # (H, W, 4)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: fixed bitmap font
        return ImageFont.load_default()


def _text_layer(text: str, size: int, fill: tuple[int, int, int, int]) -> Image.Image:
    font = _font(size)
    x0, y0, x1, y1 = ImageDraw.Draw(Image.new("RGBA", (1, 1))).textbbox((0, 0), text, font=font)
    im = Image.new("RGBA", (x1 - x0 + 4, y1 - y0 + 4), (0, 0, 0, 0))
    ImageDraw.Draw(im).text((2 - x0, 2 - y0), text, font=font, fill=fill)
    return im


def make_poster() -> LayeredImage:
    """The sample poster as a layered image (bottom to top)."""
    w, h = SIZE
    layers = [Layer(_gradient(SIZE, (34, 76, 140), (240, 150, 90)), name="Background")]

    circle = Image.new("RGBA", (220, 220), (0, 0, 0, 0))
    ImageDraw.Draw(circle).ellipse((0, 0, 219, 219), fill=(255, 214, 90, 230))
    layers.append(Layer(to_float(np.asarray(circle)), name="Sun", offset=(300, 30)))

    shadow = Image.new("RGBA", (340, 150), (0, 0, 0, 0))
    ImageDraw.Draw(shadow).rounded_rectangle((20, 20, 319, 129), radius=24, fill=(40, 20, 60, 200))
    shadow = shadow.filter(ImageFilter.GaussianBlur(8))
    layers.append(Layer(to_float(np.asarray(shadow)), name="Panel shadow", offset=(76, 196),
                        blend_mode="multiply", opacity=0.6, metadata={"group": ["Panel"]}))

    panel = Image.new("RGBA", (300, 110), (0, 0, 0, 0))
    ImageDraw.Draw(panel).rounded_rectangle((0, 0, 299, 109), radius=22, fill=(250, 246, 238, 255))
    layers.append(Layer(to_float(np.asarray(panel)), name="Panel", offset=(96, 210),
                        metadata={"group": ["Panel"]}))

    title = _text_layer("LAYERDIFF", 44, (30, 40, 80, 255))
    layers.append(Layer(to_float(np.asarray(title)), name="Title",
                        offset=((w - title.width) // 2, 228), metadata={"group": ["Panel"]}))
    subtitle = _text_layer("flat in, layers out", 22, (200, 90, 60, 255))
    layers.append(Layer(to_float(np.asarray(subtitle)), name="Subtitle",
                        offset=((w - subtitle.width) // 2, 284), metadata={"group": ["Panel"]}))
    return LayeredImage(SIZE, layers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SAMPLES_DIR, help="output folder")
    args = parser.parse_args(argv)
    poster = make_poster()
    save(poster, args.out / "poster.psd")
    flat = Image.fromarray(np.asarray(poster.composite_pil())[..., :3], "RGB")
    flat.save(args.out / "poster.png", optimize=True)
    print(f"wrote {args.out / 'poster.psd'} and {args.out / 'poster.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
