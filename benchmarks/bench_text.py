"""Reading text as text, on held-out text posters: wording, placement, colour, size, font, and SVG output.

    python benchmarks/bench_text.py                      # 60 posters, seed 2029, SVG rendered in Chromium
    python benchmarks/bench_text.py --count 20 --no-svg --json rows.json
    python benchmarks/bench_text.py --speed --count 6        # CPU time decompose adds to read text layers

Posters (seeded; index i has background kind ``KINDS[i % 4]``): a solid colour, a two-colour linear gradient,
a photo (a random crop of scikit-image's bundled photographs), or a panel with a blurred drop shadow on a photo
or gradient. Each holds one or two text blocks of 1-3 lines, 24-96 px per em, left/centre/right aligned, in a
colour that contrasts with the background under it, set in a face of a family that was NOT used while the
matcher was built (:data:`BUILD_FAMILIES` were; :data:`POSTER_FAMILIES` are drawn from). Words come from a
fixed vocabulary; the truth for every line is its string, ink box, em size, colour and family.

:func:`layerdiff.text.read_text` reads the flat poster, matching against every candidate face on the machine.
Per truth line (a line that is not found counts as a failure everywhere):

- **read**: a predicted line whose box centre lies inside the line's ink box has character accuracy
  ``1 - levenshtein / len(truth)`` >= 0.9 (runs of spaces collapsed; case-sensitive);
- **colour**: the block colour is within 60 (Euclidean, 8-bit RGB) of the truth;
- **size**: the block's em size is within 25% of the truth;
- **family**: the matched family is the poster's (strict), or one of its metric clones (:data:`CLONES`);
- **generic (unseen family)**: with the poster's family removed from the candidates, the matched face's CSS
  generic family (serif / sans-serif / monospace) is right: how it behaves on fonts it does not have.

SVG: the recovered stack (the true background layer plus one re-typeset layer per recovered block) is written
with :func:`layerdiff.save` as SVG, rendered by headless Chromium (``/usr/bin/chromium`` via playwright), and
compared (PSNR) with that stack's composite (the SVG writer's fidelity) and with the poster (the whole loop).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

KINDS = ("solid", "gradient", "photo", "panel")
BUILD_FAMILIES = ("DejaVu Sans", "DejaVu Serif", "DejaVu Sans Mono", "Liberation Sans", "Liberation Serif",
                  "Liberation Mono")
POSTER_FAMILIES = ("Open Sans", "Lato", "Roboto", "Carlito", "Caladea", "FreeSerif", "FreeSans", "Nimbus Roman",
                   "Nimbus Sans", "C059", "P052", "URW Gothic", "Cantarell", "FreeMono", "Nimbus Mono PS")
CLONES = ({"Liberation Sans", "Nimbus Sans", "FreeSans", "Arimo"}, {"Liberation Serif", "Nimbus Roman", "FreeSerif",
          "Tinos"}, {"Liberation Mono", "Nimbus Mono PS", "FreeMono", "Cousine"}, {"Carlito", "Lato"})
PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png", "hubble_deep_field.jpg",
          "grass.png", "brick.png")  # files bundled in scikit-image's data folder
WORDS = ("grand", "opening", "summer", "sale", "festival", "jazz", "night", "market", "fresh", "coffee", "autumn",
         "collection", "concert", "tickets", "today", "only", "limited", "edition", "new", "arrivals", "city",
         "marathon", "weekend", "brunch", "garden", "party", "museum", "modern", "art", "gallery", "open", "house",
         "book", "fair", "winter", "lights", "craft", "beer", "film", "club", "yoga", "class", "free", "entry",
         "live", "music", "street", "food", "design", "week", "spring", "clearance", "members", "welcome", "big",
         "deals", "local", "farm", "bakery", "workshop", "learn", "paint", "dance", "studio", "vintage", "fashion",
         "show", "charity", "run", "family", "fun", "day", "science", "talk", "theatre", "premiere", "holiday",
         "special", "offer", "season", "pass", "conference", "2026", "12", "May", "June", "Saturday", "Friday",
         "10am", "7pm", "50%", "off")


# --------------------------------------------------------------------------------------------- posters
def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)


def _photo(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    import skimage

    folder = Path(skimage.__file__).parent / "data"
    pil = Image.open(folder / PHOTOS[int(rng.integers(len(PHOTOS)))]).convert("RGB")
    w, h = size
    scale = max(w / pil.width, h / pil.height) * float(rng.uniform(1.0, 1.6))
    pil = pil.resize((int(np.ceil(pil.width * scale)), int(np.ceil(pil.height * scale))), Image.BICUBIC)
    x0, y0 = int(rng.integers(0, pil.width - w + 1)), int(rng.integers(0, pil.height - h + 1))
    return np.asarray(pil.crop((x0, y0, x0 + w, y0 + h)), np.float32) / 255.0  # (H, W, 3)


def _gradient(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    a, b = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
    angle = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (xx * np.cos(angle) + yy * np.sin(angle))
    t = (t - t.min()) / max(float(np.ptp(t)), 1.0)  # (H, W)
    return (a[None, None] * (1 - t[..., None]) + b[None, None] * t[..., None]).astype(np.float32)


def _background(kind: str, rng: np.random.Generator, size: tuple[int, int]) -> tuple[np.ndarray, tuple | None]:
    """(H, W, 3) background and, for panels, the panel box the text must sit on."""
    w, h = size
    if kind == "solid":
        return np.broadcast_to(rng.uniform(0, 1, 3).astype(np.float32), (h, w, 3)).copy(), None
    if kind == "gradient":
        return _gradient(rng, size), None
    if kind == "photo":
        return _photo(rng, size), None
    base = _photo(rng, size) if rng.random() < 0.5 else _gradient(rng, size)
    pw, ph = int(w * rng.uniform(0.7, 0.9)), int(h * rng.uniform(0.6, 0.85))
    px, py = (w - pw) // 2, (h - ph) // 2
    shadow = Image.new("L", size, 0)
    off = int(rng.integers(6, 14))
    ImageDraw.Draw(shadow).rounded_rectangle((px + off, py + off, px + pw + off, py + ph + off), 18, fill=150)
    shadow_a = np.asarray(shadow.filter(ImageFilter.GaussianBlur(8)), np.float32)[..., None] / 255.0
    out = base * (1 - shadow_a)
    panel = Image.new("L", size, 0)
    ImageDraw.Draw(panel).rounded_rectangle((px, py, px + pw, py + ph), 18, fill=255)
    panel_a = np.asarray(panel, np.float32)[..., None] / 255.0
    colour = rng.uniform(0, 1, 3).astype(np.float32)
    return (out * (1 - panel_a) + colour * panel_a).astype(np.float32), (px, py, px + pw, py + ph)


def _contrasting(rng: np.random.Generator, under: np.ndarray) -> tuple[int, int, int]:
    """A random colour whose luma differs from the background's mean under the text by at least 0.45."""
    lum = float(_luma(under).mean())
    for _ in range(200):
        c = rng.uniform(0, 1, 3)
        if abs(float(_luma(c[None])[0]) - lum) >= 0.45:
            return tuple(int(round(v * 255)) for v in c)  # type: ignore[return-value]
    return (0, 0, 0) if lum > 0.5 else (255, 255, 255)


def poster_faces(families: tuple[str, ...] = POSTER_FAMILIES) -> list:
    from layerdiff.text.fonts import available_fonts

    return [f for f in available_fonts() if f.family in families]


def make_poster(seed: int, index: int, faces: list) -> dict:
    """One poster: ``image`` (H, W, 3) float32, ``background``, ``kind`` and ``blocks`` (truth TextInfo each)."""
    from layerdiff.text import TextInfo, TextLine
    from layerdiff.text.fonts import load_font

    rng = np.random.default_rng([seed, index])
    kind = KINDS[index % len(KINDS)]
    size = (int(rng.integers(560, 801)), int(rng.integers(380, 601)))
    background, panel = _background(kind, rng, size)
    area = panel if panel is not None else (0, 0, size[0], size[1])
    margin = 24
    image = background.copy()
    blocks = []
    n_blocks = 1 + int(rng.random() < 0.5)
    y_cursor = area[1] + margin
    for b in range(n_blocks):
        face = faces[int(rng.integers(len(faces)))]
        em = float(np.exp(rng.uniform(np.log(24), np.log(96)))) if b == 0 else float(rng.uniform(24, 40))
        n_lines = int(rng.integers(1, 4))
        font = load_font(face.path, int(round(em)))
        em = float(int(round(em)))
        width = area[2] - area[0] - 2 * margin
        texts = []
        for _ in range(n_lines):
            words = [str(w) for w in rng.choice(WORDS, size=int(rng.integers(1, 4)))]
            style = rng.integers(3)
            line = " ".join(words)
            line = line.upper() if style == 0 else line.title() if style == 1 else line.capitalize()
            while " " in line and font.getlength(line) > width:
                line = line.rsplit(" ", 1)[0]
            if font.getlength(line) <= width:
                texts.append(line)
        line_height = round(em * float(rng.uniform(1.15, 1.4)))
        height = line_height * (len(texts) - 1) + em * 1.1
        if not texts or y_cursor + height > area[3] - margin:
            break
        alignment = ["left", "center", "right"][int(rng.integers(3))]
        first_baseline = y_cursor + em * 0.95
        lines, masks = [], []
        for i, text in enumerate(texts):
            left, top, right, bottom = font.getbbox(text, anchor="ls")
            ink_w = right - left
            anchor = {"left": area[0] + margin, "center": (area[0] + area[2]) / 2, "right": area[2] - margin}
            ink_x0 = {"left": anchor["left"], "center": anchor["center"] - ink_w / 2,
                      "right": anchor["right"] - ink_w}[alignment]
            x, baseline = int(round(ink_x0 - left)), int(round(first_baseline + i * line_height))
            mask = Image.new("L", size, 0)
            ImageDraw.Draw(mask).text((x, baseline), text, font=font, fill=255, anchor="ls")
            m = np.asarray(mask, np.float32) / 255.0  # (H, W)
            ys, xs = np.nonzero(m > 0.5)
            lines.append(TextLine(text, (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1),
                                  float(baseline), float(x)))
            masks.append(m)
        union = np.max(masks, axis=0)
        ys, xs = np.nonzero(union > 0)
        colour = _contrasting(rng, background[ys.min():ys.max() + 1, xs.min():xs.max() + 1])
        image = image * (1 - union[..., None]) + (np.asarray(colour, np.float32) / 255)[None, None] * union[..., None]
        box = (min(ln.box[0] for ln in lines), min(ln.box[1] for ln in lines), max(ln.box[2] for ln in lines),
               max(ln.box[3] for ln in lines))
        blocks.append(TextInfo("\n".join(texts), box, lines[0].baseline, em, colour, font_family=face.family,
                               font_weight=face.weight, font_style=face.style, generic_family=face.generic,
                               alignment=alignment, line_height=float(line_height), lines=lines,
                               font_file=face.path))
        y_cursor = int(box[3] + rng.uniform(0.6, 1.2) * em)
    return {"image": image.astype(np.float32), "background": background, "kind": kind, "blocks": blocks}


# ------------------------------------------------------------------------------------------- scoring
def _levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def char_accuracy(pred: str, truth: str) -> float:
    pred, truth = " ".join(pred.split()), " ".join(truth.split())
    return max(0.0, 1.0 - _levenshtein(pred, truth) / max(len(truth), 1))


def _clone(a: str, b: str) -> bool:
    return a == b or any(a in group and b in group for group in CLONES)


def _inside(box: tuple, point: tuple[float, float]) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def score_poster(poster: dict, blocks: list, blocks_unseen: list) -> list[dict]:
    """One row per truth line (see the module docstring for the criteria)."""
    pred_lines = [(ln, info) for info in blocks for ln in info.lines]
    unseen_lines = [(ln, info) for info in blocks_unseen for ln in info.lines]
    rows = []
    for truth in poster["blocks"]:
        for line in truth.lines:
            def best(cands, line=line):
                placed = [(char_accuracy(ln.text, line.text), ln, info) for ln, info in cands
                          if _inside(line.box, ((ln.box[0] + ln.box[2]) / 2, (ln.box[1] + ln.box[3]) / 2))]
                return max(placed, key=lambda t: t[0]) if placed else None

            found, unseen = best(pred_lines), best(unseen_lines)
            row = {"kind": poster["kind"], "truth": line.text, "font_size": truth.font_size,
                   "family": truth.font_family, "lines_in_block": len(truth.lines), "found": found is not None}
            if found is None:
                row.update(read=False, char_acc=0.0, colour_ok=False, size_ok=False, family_ok=False,
                           clone_ok=False, pred="", colour_err=None, size_err=None, pred_family=None)
            else:
                acc, ln, info = found
                colour_err = float(np.linalg.norm(np.subtract(info.color, truth.color, dtype=float)))
                size_err = abs(info.font_size - truth.font_size) / truth.font_size
                row.update(read=acc >= 0.9, char_acc=acc, pred=ln.text, colour_err=colour_err,
                           colour_ok=colour_err <= 60, size_err=size_err, size_ok=size_err <= 0.25,
                           pred_family=info.font_family, family_ok=info.font_family == truth.font_family,
                           clone_ok=_clone(info.font_family, truth.font_family))
            row["generic_unseen_ok"] = unseen is not None and unseen[2].generic_family == truth.generic_family
            rows.append(row)
    return rows


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def recovered_stack(poster: dict, blocks: list):
    from layerdiff.layered import Layer, LayeredImage
    from layerdiff.text.render import render_text

    h, w = poster["background"].shape[:2]
    bg = np.concatenate([poster["background"], np.ones((h, w, 1), np.float32)], -1)
    return LayeredImage((w, h), [Layer(bg, name="Background"), *[render_text(b, (w, h)) for b in blocks]])


class SvgRenderer:
    """Headless Chromium rendering SVG files at 1 CSS px per pixel."""

    def __enter__(self) -> SvgRenderer:
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        self.browser = self._pw.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--font-render-hinting=none"])
        return self

    def __exit__(self, *exc: object) -> None:
        self.browser.close()
        self._pw.stop()

    def render(self, path: Path, size: tuple[int, int]) -> np.ndarray:
        import io

        page = self.browser.new_page(viewport={"width": size[0], "height": size[1]}, device_scale_factor=1)
        try:
            page.goto(path.as_uri())
            png = page.screenshot(clip={"x": 0, "y": 0, "width": size[0], "height": size[1]})
        finally:
            page.close()
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))  # (H, W, 3)


def run(seed: int, count: int, svg: bool, families: tuple[str, ...] = POSTER_FAMILIES, save_dir: Path | None = None,
        ) -> tuple[list[dict], list[dict]]:
    """(line rows, poster rows)."""
    import layerdiff
    from layerdiff.layered import from_float
    from layerdiff.text.analyze import blocks_to_info, fit_line, group_lines, merge_pieces
    from layerdiff.text.fonts import available_fonts
    from layerdiff.text.ocr import recognize

    faces = poster_faces(families)
    if not faces:
        raise SystemExit(f"none of the poster families {families} is installed (apt-get install fonts-*)")
    every = available_fonts()
    line_rows, poster_rows = [], []
    renderer = SvgRenderer().__enter__() if svg else None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for index in range(count):
                poster = make_poster(seed, index, faces)
                rgb = poster["image"]
                if save_dir is not None:
                    Image.fromarray(from_float(rgb, 8)).save(save_dir / f"poster_{index:03d}.png")
                w = rgb.shape[1]
                t0 = time.perf_counter()
                detections = recognize(from_float(rgb, 8))
                fits = merge_pieces(rgb, [f for f in (fit_line(rgb, d, every) for d in detections) if f is not None],
                                    every)
                blocks = blocks_to_info(group_lines(fits), w)
                seconds = time.perf_counter() - t0
                truth_families = {b.font_family for b in poster["blocks"]}
                others = tuple(f for f in every if f.family not in truth_families)
                fits_unseen = merge_pieces(
                    rgb, [f for f in (fit_line(rgb, d, others) for d in detections) if f is not None], others)
                blocks_unseen = blocks_to_info(group_lines(fits_unseen), w)
                rows = score_poster(poster, blocks, blocks_unseen)
                for r in rows:
                    r["index"] = index
                line_rows.extend(rows)
                prow = {"index": index, "kind": poster["kind"], "lines": len(rows), "seconds": seconds}
                if renderer is not None:
                    stack = recovered_stack(poster, blocks)
                    path = layerdiff.save(stack, Path(tmp) / f"p{index}.svg")
                    shot = renderer.render(path, stack.size)
                    comp = np.asarray(stack.composite_pil(background=(1, 1, 1)).convert("RGB"))
                    prow["svg_psnr_stack"] = _psnr(shot, comp)
                    prow["svg_psnr_poster"] = _psnr(shot, from_float(rgb, 8))
                poster_rows.append(prow)
    finally:
        if renderer is not None:
            renderer.__exit__(None, None, None)
    return line_rows, poster_rows


def table(line_rows: list[dict], poster_rows: list[dict]) -> str:
    def pct(rows: list[dict], key: str) -> str:
        return f"{100 * np.mean([bool(r[key]) for r in rows]):.1f}%" if rows else "-"

    out = ["| backgrounds | posters | lines | read | colour <= 60 | size <= 25% | family | family or clone "
           "| generic (family unseen) | SVG PSNR vs stack (dB) | SVG PSNR vs poster (dB) | s / poster |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for kind in [*KINDS, "all"]:
        rows = [r for r in line_rows if kind == "all" or r["kind"] == kind]
        prows = [r for r in poster_rows if kind == "all" or r["kind"] == kind]
        if not prows:
            continue
        svg_s = [r["svg_psnr_stack"] for r in prows if "svg_psnr_stack" in r]
        svg_p = [r["svg_psnr_poster"] for r in prows if "svg_psnr_poster" in r]
        out.append(f"| {kind} | {len(prows)} | {len(rows)} | {pct(rows, 'read')} | {pct(rows, 'colour_ok')} | "
                   f"{pct(rows, 'size_ok')} | {pct(rows, 'family_ok')} | {pct(rows, 'clone_ok')} | "
                   f"{pct(rows, 'generic_unseen_ok')} | {np.mean(svg_s) if svg_s else float('nan'):.2f} | "
                   f"{np.mean(svg_p) if svg_p else float('nan'):.2f} | "
                   f"{np.median([r['seconds'] for r in prows]):.2f} |")
    return "\n".join(out)


def speed_posters(seed: int, count: int) -> list[tuple[str, np.ndarray]]:
    """(name, (H, W, 3) float32) posters for :func:`speed`: the bundled poster, then ``count`` posters of
    :func:`make_poster` (held-out families) shrunk to 512 px on their longest side."""
    from layerdiff.samples import sample_path

    out = [("bundled poster", np.asarray(Image.open(sample_path("poster.png")).convert("RGB"), np.float32) / 255.0)]
    faces = poster_faces()
    if not faces:
        raise SystemExit(f"none of the poster families {POSTER_FAMILIES} is installed (apt-get install fonts-*)")
    for index in range(count):
        poster = make_poster(seed, index, faces)
        pil = Image.fromarray((np.clip(poster["image"], 0, 1) * 255 + 0.5).astype(np.uint8))
        scale = 512 / max(pil.size)
        pil = pil.resize((round(pil.width * scale), round(pil.height * scale)), Image.LANCZOS)
        lines = sum(len(b.lines) for b in poster["blocks"])
        out.append((f"poster {index} ({poster['kind']}, {lines} lines)", np.asarray(pil, np.float32) / 255.0))
    return out


def speed(seed: int, count: int, rounds: int = 3) -> list[dict]:
    """What reading the text layers adds to a region decomposition: per poster, the median over ``rounds``
    of the CPU seconds of ``decompose(read_text=False)`` and ``decompose(read_text=True)`` (alternated, warm),
    their ratio, and the text layers found."""
    from layerdiff.loader import load

    decomposer = load("layerdiff-tiny", "decompose")
    rows = []
    for name, image in speed_posters(seed, count):
        stack = decomposer.decompose(image)  # warm: engine, fonts, glyph caches
        off, on = [], []
        for _ in range(rounds):
            t0 = time.process_time()
            decomposer.decompose(image, read_text=False)
            t1 = time.process_time()
            decomposer.decompose(image)
            t2 = time.process_time()
            off.append(t1 - t0)
            on.append(t2 - t1)
        rows.append({"poster": name, "decompose_s": float(np.median(off)), "with_text_s": float(np.median(on)),
                     "added_s": float(np.median(np.subtract(on, off))),
                     "ratio": float(np.median(np.divide(on, off))),
                     "text_layers": [layer.text.text for layer in stack.layers if layer.text is not None]})
    return rows


def speed_table(rows: list[dict]) -> str:
    out = ["| poster | decompose CPU s | with text CPU s | added s | ratio | text layers read |",
           "|---|---:|---:|---:|---:|---|"]
    for r in rows:
        words = "; ".join(t.replace("\n", " / ") for t in r["text_layers"]) or "-"
        out.append(f"| {r['poster']} | {r['decompose_s']:.2f} | {r['with_text_s']:.2f} | {r['added_s']:.2f} | "
                   f"{r['ratio']:.3f} | {words} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=2029, help="poster stream (the tests and development used others)")
    p.add_argument("--count", type=int, default=60, help="posters")
    p.add_argument("--no-svg", action="store_true", help="skip the SVG rendering in Chromium")
    p.add_argument("--json", default=None, help="write the per-line and per-poster rows here")
    p.add_argument("--dev", action="store_true",
                   help="development posters: set in BUILD_FAMILIES instead of the held-out POSTER_FAMILIES")
    p.add_argument("--save-posters", default=None, help="folder to write the poster images to")
    p.add_argument("--speed", action="store_true",
                   help="instead: CPU time a region decomposition takes with and without reading its text layers "
                        "(the bundled poster and --count posters at 512 px)")
    args = p.parse_args(argv)
    if args.speed:
        rows = speed(args.seed, args.count)
        print(speed_table(rows))
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=1), "utf-8")
        return 0
    save_dir = Path(args.save_posters) if args.save_posters else None
    if save_dir is not None:
        save_dir.mkdir(parents=True, exist_ok=True)
    families = BUILD_FAMILIES if args.dev else POSTER_FAMILIES
    line_rows, poster_rows = run(args.seed, args.count, not args.no_svg, families, save_dir)
    print(table(line_rows, poster_rows))
    if args.json:
        Path(args.json).write_text(json.dumps({"lines": line_rows, "posters": poster_rows}, indent=1), "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
