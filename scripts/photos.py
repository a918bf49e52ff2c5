"""Phone photos of digits written on paper, rendered from ink arrays with a seeded generator.

    python -m scripts.photos --data MNIST_DIR --out DIR [--n 20] [--seed 0]
    python -m scripts.photos --data MNIST_DIR --examples docs/photo-examples.png [--seed 0]

``photograph`` writes any ink (an (h, w) light-on-black array in [0, 1]: an MNIST digit, or a
number made of several) in dark ink on paper and photographs it as a phone does: warm paper lit
unevenly (a gradient and a vignette), often a soft shadow, sometimes coloured or textured paper,
ruled lines, or the paper's edge with a darker table beyond it; the paper turned up to 10
degrees; a slight blur, sensor noise, and JPEG at quality 70. The ink's box is a third to a half
of the frame's shorter side (a tenth to a third for the "small" photos), anywhere in the frame.
Every choice comes from the generator, so a seed gives the same photos. ``render`` also says
which of those variants a photo has and where its ink is; ``photo_of_digit`` takes an MNIST
image; ``twelve_megapixels`` makes a 4000x3000 phone photo at JPEG quality 90 (about 4 MB).

The first form writes ``n`` photos of MNIST test digits as JPEG files; the second a figure of
three photos, each beside the 28x28 image the network sees (``preprocess.preprocess``).
Scripts, benchmarks and tests import this module; nothing here imports from ``tests``.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

# -- the scene ---------------------------------------------------------------------------------

FRAME_MARGIN = 0.06  # the ink's box is at least this fraction of the shorter side inside the frame
MAX_ANGLE = 10.0  # degrees the paper (and its ink) is turned in the frame, either way
NORMAL_SCALE = (1 / 3, 1 / 2)  # the ink's box's longer side, as a share of the frame's shorter side
SMALL_SCALE = (1 / 10, 1 / 3)  # ... for the "small" photos
# How often each variant is drawn.
CHANCES = {"shadow": 0.5, "ruled": 0.25, "edge": 0.25, "coloured": 0.2, "textured": 0.3, "small": 0.2}
VARIANTS = tuple(CHANCES)

WARM_PAPER = (0.96, 0.93, 0.86)  # a warm white, lit by a warm light
PAPERS = {  # coloured papers (RGB in [0, 1])
    "yellow": (0.97, 0.92, 0.58),
    "blue": (0.74, 0.84, 0.96),
    "pink": (0.97, 0.78, 0.83),
    "green": (0.78, 0.93, 0.76),
    "kraft": (0.80, 0.68, 0.52),
}
INKS = ((0.10, 0.10, 0.12), (0.12, 0.16, 0.45), (0.05, 0.05, 0.08), (0.25, 0.25, 0.28))  # black, blue, pen, pencil-ish
TABLES = ((0.42, 0.29, 0.19), (0.25, 0.25, 0.27), (0.15, 0.12, 0.10), (0.45, 0.42, 0.38))  # wood, grey, dark, linen
RULE_COLOURS = ((0.55, 0.70, 0.90), (0.65, 0.65, 0.68), (0.60, 0.78, 0.85))
MARGIN_COLOUR = (0.90, 0.45, 0.50)
LIGHT_SCALE = 4  # the light (gradient, vignette, shadow) is drawn at 1/4 size and upscaled: it is smooth
TWELVE_MEGAPIXELS = (4000, 3000)


@dataclass(frozen=True)
class Photo:
    """A rendered photo: its JPEG bytes, its size (width, height), the variants it has (names
    from ``VARIANTS``), and the ink's box (x0, y0, x1, y1) in its pixels, x1 and y1 exclusive."""

    jpeg: bytes
    size: tuple[int, int]
    variants: tuple[str, ...]
    box: tuple[int, int, int, int]


def render(
    ink: np.ndarray,
    rng: np.random.Generator,
    *,
    size: int | tuple[int, int] = 640,
    quality: int = 70,
    force: dict[str, bool] | None = None,
    angle: float | None = None,
    scale: float | None = None,
    noise: float | None = None,
) -> Photo:
    """A phone photo of ``ink`` (h, w) in [0, 1] (light on black, as MNIST) written on paper.

    ``size`` is the frame's side, or its (width, height); ``quality`` the JPEG quality. Each
    variant is drawn from ``rng`` with its chance in ``CHANCES`` unless ``force`` fixes it
    (e.g. ``{"shadow": True, "ruled": False}``); ``angle`` (degrees) and ``scale`` (the ink box's
    longer side over the frame's shorter side) are drawn too unless given, and so is ``noise``,
    the sensor noise's standard deviation in levels (of 255) at 640 px (more at larger sizes).
    """
    width, height = (size, size) if isinstance(size, int) else size
    side = min(width, height)
    chosen = {name: bool(rng.random() < chance) for name, chance in CHANCES.items()} | dict(force or {})
    if angle is None:
        angle = float(rng.uniform(-MAX_ANGLE, MAX_ANGLE))
    if scale is None:
        scale = float(rng.uniform(*(SMALL_SCALE if chosen["small"] else NORMAL_SCALE)))
    alpha, box = _place_ink(np.asarray(ink, dtype=np.float32), rng, width, height, scale * side, angle)

    # The paper: its colour, its texture, its ruled lines; the ink on it.
    paper = np.array(PAPERS[rng.choice(list(PAPERS))] if chosen["coloured"] else WARM_PAPER, dtype=np.float32)
    paper = paper * rng.uniform(0.95, 1.02, 3).astype(np.float32)  # white balance
    grain = _texture(rng, width, height, float(rng.uniform(0.02, 0.06))) if chosen["textured"] else None
    rules = _rules(rng, width, height, angle) if chosen["ruled"] else []
    ink_colour = np.array(INKS[rng.integers(len(INKS))], dtype=np.float32) * rng.uniform(0.8, 1.2)
    alpha *= float(rng.uniform(0.85, 1.0))
    # The paper's edge, with the table beyond it, on a side the ink leaves room on.
    on_paper = _edge(rng, width, height, box, angle) if chosen["edge"] else None
    chosen["edge"] = on_paper is not None
    table = np.array(TABLES[rng.integers(len(TABLES))], dtype=np.float32) * rng.uniform(0.4, 0.9)
    light = _light(rng, width, height, chosen["shadow"])

    # Each pixel's colour is a sum of layers, each a coverage (h, w) times a colour (3,): the
    # paper where neither a rule nor the ink covers it, each rule, the ink, the table; lit, plus
    # the sensor's noise. One matrix product adds them up.
    lit = light * (1 - alpha)
    if on_paper is not None:
        lit *= on_paper
    uncovered = lit.copy()
    layers, colours = [], []
    for coverage, colour in rules:
        layers.append(lit * coverage)
        colours.append(colour)
        uncovered -= layers[-1]
    layers.append(uncovered if grain is None else uncovered * grain)
    colours.append(paper)
    layers.append(light * alpha if on_paper is None else light * alpha * on_paper)
    colours.append(ink_colour)
    if on_paper is not None:
        layers.append(light * (1 - on_paper) * _texture(rng, width, height, 0.05))
        colours.append(table)
    mixed = np.stack(colours, axis=1).astype(np.float32) @ np.stack(layers).reshape(len(layers), -1)
    pixels = np.clip(mixed.T.reshape(height, width, 3) * 255 + 0.5, 0, 255).astype(np.uint8)
    # The lens blurs the scene a little; then the sensor adds its noise, pixel by pixel.
    image = Image.fromarray(pixels, mode="RGB").filter(ImageFilter.BoxBlur(float(rng.uniform(0.3, 1.0)) * side / 640))
    # A small photo is a large one scaled down, which averages its noise away: the noise in levels
    # grows with the square root of the side. Mostly in the brightness, a little in the colours.
    sigma = (float(rng.uniform(1.5, 5.0)) if noise is None else noise) * math.sqrt(side / 640)
    noise = rng.standard_normal((height, width, 1), dtype=np.float32) * sigma + 0.5
    if side > 640:
        noise = noise + rng.standard_normal((height, width, 3), dtype=np.float32) * (0.5 * sigma)
    pixels = np.clip(np.asarray(image, dtype=np.int16) + noise.astype(np.int16), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, mode="RGB")
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    variants = tuple(name for name in VARIANTS if chosen[name])
    return Photo(out.getvalue(), (width, height), variants, box)


def photograph(ink: np.ndarray, rng: np.random.Generator, **options) -> bytes:
    """JPEG bytes of a phone photo of ``ink`` (h, w) in [0, 1] on paper: ``render(...).jpeg``."""
    return render(ink, rng, **options).jpeg


def twelve_megapixels(ink: np.ndarray, rng: np.random.Generator, **options) -> Photo:
    """A 4000x3000 phone photo of ``ink`` at JPEG quality 90: 3-6 MB, as a phone's camera writes."""
    return render(ink, rng, size=TWELVE_MEGAPIXELS, quality=90, noise=4.0, **options)


def photo_of_digit(image28: np.ndarray, rng: np.random.Generator, **options) -> bytes:
    """JPEG bytes of a phone photo of an MNIST image (28, 28), uint8 0-255 or float in [0, 1]."""
    return photograph(as_ink(image28), rng, **options)


def as_ink(image: np.ndarray) -> np.ndarray:
    """An MNIST-style image, uint8 0-255 or float in [0, 1] -> float32 ink in [0, 1]."""
    pixels = np.asarray(image)
    if pixels.dtype == np.uint8:
        return pixels.astype(np.float32) / 255
    return np.clip(pixels.astype(np.float32), 0, 1)


def _place_ink(
    ink: np.ndarray, rng: np.random.Generator, width: int, height: int, longer: float, angle: float
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The ink cropped to its box, scaled so the box's longer side is ``longer`` px, turned by
    ``angle`` degrees, at a random place in the frame: (the (height, width) alpha, its box).
    Blank ink (all zeros) is no ink at all: a photo of the paper alone, its box (0, 0, 0, 0)."""
    rows, cols = np.flatnonzero(ink.max(axis=1) > 0), np.flatnonzero(ink.max(axis=0) > 0)
    if rows.size == 0:  # a photo of the paper alone
        return np.zeros((height, width), dtype=np.float32), (0, 0, 0, 0)
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    s = longer / max(crop.shape)
    scaled = Image.fromarray(np.pad(crop, 1), mode="F").resize(
        (max(1, round((crop.shape[1] + 2) * s)), max(1, round((crop.shape[0] + 2) * s))), Image.Resampling.BILINEAR
    )
    turned = np.clip(np.asarray(scaled.rotate(angle, Image.Resampling.BILINEAR, expand=True)), 0, 1)
    th, tw = turned.shape
    margin = round(FRAME_MARGIN * min(width, height))  # the photographer keeps the digit in the frame
    if th + 2 * margin > height or tw + 2 * margin > width:
        raise ValueError(f"the ink ({tw}x{th} px turned) does not fit a {width}x{height} frame")
    top = int(rng.integers(margin, height - th - margin + 1))
    left = int(rng.integers(margin, width - tw - margin + 1))
    alpha = np.zeros((height, width), dtype=np.float32)
    alpha[top : top + th, left : left + tw] = turned
    ys, xs = np.flatnonzero(alpha.max(axis=1) > 0.25), np.flatnonzero(alpha.max(axis=0) > 0.25)
    return alpha, (int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1)


def _texture(rng: np.random.Generator, width: int, height: int, amount: float) -> np.ndarray:
    """A paper's (or a table's) grain (height, width) around 1: blotches and fibres, ``amount`` deep."""
    coarse = rng.standard_normal((max(2, height // 40), max(2, width // 40))).astype(np.float32)
    fine = rng.standard_normal((max(2, height // 3), max(2, width // 12))).astype(np.float32)  # fibres run along
    field = 0.6 * _upscale(coarse, width, height, Image.Resampling.BICUBIC)
    field += 0.4 * _upscale(fine, width, height, Image.Resampling.BILINEAR)
    return 1 + amount * np.clip(field, -2.5, 2.5) / 2.5


def _upscale(a: np.ndarray, width: int, height: int, how: Image.Resampling) -> np.ndarray:
    return np.asarray(Image.fromarray(a, mode="F").resize((width, height), how), dtype=np.float32)


def _rules(rng: np.random.Generator, width: int, height: int, angle: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """Ruled lines (and sometimes a red margin line) across the paper turned by ``angle``: each
    set's coverage (height, width) in [0, 1] and colour (3,)."""
    side = min(width, height)
    spacing = float(rng.uniform(0.05, 0.1)) * side
    line = max(1, round(float(rng.uniform(1.0, 2.5)) * side / 640))
    cx, cy, reach = width / 2, height / 2, math.hypot(width, height)
    a = math.radians(-angle)  # Pillow turns counter-clockwise for a positive angle, y down
    cos, sin = math.cos(a), math.sin(a)

    def segment(u0: float, v0: float, u1: float, v1: float) -> list[tuple[float, float]]:
        return [(cx + u * cos - v * sin, cy + u * sin + v * cos) for u, v in ((u0, v0), (u1, v1))]

    level = round(255 * float(rng.uniform(0.35, 0.8)))
    layer = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(layer)
    v = -reach / 2 + float(rng.uniform(0, spacing))
    while v < reach / 2:
        draw.line(segment(-reach, v, reach, v), fill=level, width=line)
        v += spacing
    colour = np.array(RULE_COLOURS[rng.integers(len(RULE_COLOURS))], dtype=np.float32)
    sets = [(np.asarray(layer, dtype=np.float32) / 255, colour)]
    if rng.random() < 0.4:  # a red margin line, down the left, over the ruled lines
        margin = Image.new("L", (width, height), 0)
        u = -width / 2 + float(rng.uniform(0.05, 0.2)) * width
        ImageDraw.Draw(margin).line(segment(u, -reach, u, reach), fill=level, width=line)
        red = np.asarray(margin, dtype=np.float32) / 255
        sets = [(sets[0][0] * (1 - red), colour), (red, np.array(MARGIN_COLOUR, dtype=np.float32))]
    return sets


def _edge(
    rng: np.random.Generator, width: int, height: int, box: tuple[int, int, int, int], angle: float
) -> np.ndarray | None:
    """The paper's coverage (height, width): 1 on the paper, 0 on the table beyond an edge on
    one side of the frame, turned about ``angle``, between the ink's box and the frame's border;
    None when the ink leaves no room for one."""
    x0, y0, x1, y1 = box
    side = min(width, height)
    need = 0.06 * side  # room for the edge: paper around the ink, and some table
    gaps = {"left": x0, "right": width - x1, "top": y0, "bottom": height - y1}
    sides = [name for name, gap in gaps.items() if gap >= need]
    if not sides:
        return None
    where = sides[rng.integers(len(sides))]
    gap = gaps[where]
    distance = float(rng.uniform(0.02 * side, min(gap - 0.03 * side, 0.3 * side)))  # the frame's border to the edge
    tilt = math.radians(angle + float(rng.uniform(-3, 3)))
    # Where along its side the edge meets the frame's border, shifted by the tilt across the frame.
    span = width if where in ("top", "bottom") else height
    drift = math.tan(tilt) * span
    start, stop = distance - max(drift, 0), distance + min(drift, 0)  # both inside the gap
    start, stop = max(start, 0.0), max(stop, 0.0)
    corners = {
        "left": [(0, 0), (start, 0), (stop, height), (0, height)],
        "right": [(width, 0), (width - start, 0), (width - stop, height), (width, height)],
        "top": [(0, 0), (0, start), (width, stop), (width, 0)],
        "bottom": [(0, height), (0, height - start), (width, height - stop), (width, height)],
    }[where]
    layer = Image.new("L", (width * 2, height * 2), 255)  # drawn at twice the size, for a smooth edge
    ImageDraw.Draw(layer).polygon([(2 * x, 2 * y) for x, y in corners], fill=0)
    return np.asarray(layer.reduce(2), dtype=np.float32) / 255


def _light(rng: np.random.Generator, width: int, height: int, shadow: bool) -> np.ndarray:
    """The light on the scene (height, width): a gradient, a vignette, and maybe a soft shadow."""
    w, h = max(2, width // LIGHT_SCALE), max(2, height // LIGHT_SCALE)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    x, y = x / w - 0.5, y / h - 0.5
    direction = float(rng.uniform(0, 2 * math.pi))
    ramp = x * math.cos(direction) + y * math.sin(direction)  # -0.7 .. 0.7
    light = float(rng.uniform(0.75, 1.0)) * (1 - float(rng.uniform(0.1, 0.4)) * (ramp + 0.7) / 1.4)
    light *= 1 - float(rng.uniform(0.0, 0.25)) * (x**2 + y**2) * 2
    if shadow:
        mask = Image.new("L", (w, h), 0)
        draw = ImageDraw.Draw(mask)
        if rng.random() < 0.5:  # a straight shadow's edge across the frame (the phone's, a wall's)
            a = float(rng.uniform(0, 2 * math.pi))
            cx, cy = float(rng.uniform(0.2, 0.8)) * w, float(rng.uniform(0.2, 0.8)) * h
            far = 3 * max(w, h)
            nx, ny = math.cos(a), math.sin(a)
            draw.polygon(
                [
                    (cx - ny * far, cy + nx * far),
                    (cx + ny * far, cy - nx * far),
                    (cx + ny * far + nx * far, cy - nx * far + ny * far),
                    (cx - ny * far + nx * far, cy + nx * far + ny * far),
                ],
                fill=255,
            )
        else:  # a blob (a hand, a head) over part of the frame
            cx, cy = float(rng.uniform(0, 1)) * w, float(rng.uniform(0, 1)) * h
            rx, ry = float(rng.uniform(0.25, 0.6)) * w, float(rng.uniform(0.25, 0.6)) * h
            draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=255)
        softness = float(rng.uniform(0.01, 0.06)) * max(w, h)
        mask = mask.filter(ImageFilter.GaussianBlur(softness))
        depth = float(rng.uniform(0.2, 0.4))
        light = light * (1 - depth * np.asarray(mask, dtype=np.float32) / 255)
    return _upscale(light.astype(np.float32), width, height, Image.Resampling.BILINEAR)


# -- the command line ------------------------------------------------------------------------------


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o644)  # as any file written in the tree (mkstemp's is the owner's alone)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def examples_figure(photos: list[bytes], seen: list[np.ndarray], height: int = 240) -> bytes:
    """PNG bytes of a figure: each photo (scaled to ``height`` px high) beside the 28x28 image
    the network saw (``seen``, (28, 28) in [0, 1], enlarged with square pixels)."""
    gap = 12
    tiles = []
    for jpeg, image28 in zip(photos, seen):
        with Image.open(io.BytesIO(jpeg)) as opened:
            photo = opened.convert("RGB")
        photo = photo.resize((round(photo.width * height / photo.height), height), Image.Resampling.LANCZOS)
        pixels = np.rint(np.clip(image28, 0, 1) * 255).astype(np.uint8)
        network = Image.fromarray(pixels, mode="L").resize((height, height), Image.Resampling.NEAREST).convert("RGB")
        tiles.append((photo, network))
    width = sum(p.width + n.width + 3 * gap for p, n in tiles) + gap
    figure = Image.new("RGB", (width, height + 2 * gap), "white")
    x = gap
    for photo, network in tiles:
        figure.paste(photo, (x, gap))
        x += photo.width + gap // 2
        ImageDraw.Draw(figure).polygon(  # an arrow from the photo to what the network saw
            [(x, gap + height // 2 - 6), (x + gap, gap + height // 2), (x, gap + height // 2 + 6)], fill="grey"
        )
        x += gap + gap // 2
        figure.paste(network, (x, gap))
        x += network.width + 2 * gap
    out = io.BytesIO()
    figure.save(out, format="PNG", optimize=True)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from model import preprocess
    from model.data import load_mnist_split
    from model.mnist import default_dir

    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="the MNIST folder (default: $MNIST_DIR)")
    parser.add_argument("--out", type=Path, help="write --n photos of MNIST test digits here as JPEG files")
    parser.add_argument("--n", type=int, default=20, help="how many photos for --out (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="the generator's seed (default 0)")
    parser.add_argument("--examples", type=Path, help="write a figure of three photos and what the network saw")
    args = parser.parse_args(argv)
    if not args.out and not args.examples:
        parser.error("give --out or --examples")
    test = load_mnist_split(args.data or default_dir(), "t10k")
    rng = np.random.default_rng(args.seed)
    if args.out:
        for k, index in enumerate(rng.choice(len(test.images), args.n, replace=False)):
            photo = render(as_ink(test.images[index]), rng)
            name = f"{k:04d}-label{test.labels[index]}-{'-'.join(photo.variants) or 'plain'}.jpg"
            _write_atomically(args.out / name, photo.jpeg)
        print(f"wrote {args.n} photos to {args.out}")
    if args.examples:
        looks = [
            {"shadow": True, "ruled": False, "edge": False, "coloured": False, "small": False},
            {"shadow": False, "ruled": True, "edge": True, "coloured": False, "small": False},
            {"shadow": True, "ruled": False, "edge": False, "coloured": True, "textured": True, "small": True},
        ]
        photos = []
        for index, force in zip(rng.choice(len(test.images), len(looks), replace=False), looks):
            photos.append(render(as_ink(test.images[index]), rng, force=force).jpeg)
        seen = [preprocess.preprocess(jpeg) for jpeg in photos]
        _write_atomically(args.examples, examples_figure(photos, seen))
        print(f"wrote {args.examples}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
