"""Whole numbers drawn the way the page's canvas sends them, for the tests and the benchmarks.

``make_number(images, rng, touching=...)`` writes 2 to 6 MNIST digits side by side as one
canvas-like PNG (dark ink on white, or near-black ink on transparent pixels, as
``scripts.drawing.render_like_canvas`` does for one digit), with random gaps, sizes and
baselines, and returns the PNG, the true text, the digits' indices and their ink boxes.

- ``touching=False`` (apart): a gap of 3 to 8 MNIST pixels (scaled like the digits) between
  neighbours' ink boxes, the box of every pixel with any ink.
- ``touching=True``: neighbours' ink boxes overlap by a fraction drawn uniformly from 0-15 % of the
  narrower digit's width; where the strokes do not touch there, the right digit slides left
  until they do (a pixel of at least a quarter of full ink in both digits within one MNIST pixel
  of each other), as far as an overlap of 30 % of the narrower width. About 9 pairs in 10 end up
  touching, and the rest come within a few pixels of each other.

Nothing here imports from ``tests``; the tests import this module directly.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from scripts.drawing import INK

SIZES = (0.8, 1.25)  # each digit is scaled by a factor drawn from this range ...
BASELINE = 2.0  # ... and moved up or down by up to this many MNIST pixels
SCALES = (3.0, 8.0)  # canvas pixels per MNIST pixel, drawn per number (the page's pad is 10)
APART_GAP = (3.0, 8.0)  # MNIST pixels between neighbours' ink boxes when apart
TOUCH_OVERLAP = 0.15  # the drawn box overlap, as a fraction of the narrower digit's width ...
SLIDE_LIMIT = 0.30  # ... and how far the right digit may slide to make the strokes touch
TOUCH_LEVEL = 0.25  # the ink level at which strokes count for touching


@dataclass(frozen=True)
class Number:
    """One generated number: its PNG, what it says, and where its digits are."""

    png: bytes
    text: str  # the digits' labels, left to right, e.g. "2026"
    indices: tuple[int, ...]  # each digit's index in the images it was drawn from
    boxes: tuple[tuple[int, int, int, int], ...]  # each digit's ink box (x0, y0, x1, y1), x1/y1 exclusive


def make_number(
    images: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator,
    *,
    touching: bool,
    count: int | None = None,
    transparent: bool | None = None,
) -> Number:
    """A number of ``count`` (default 2 to 6, drawn from ``rng``) digits picked from ``images``.

    ``images`` is (n, 28, 28) uint8 light ink on black (MNIST's form), ``labels`` (n,) their digits.
    ``transparent`` (default: drawn from ``rng``) chooses ink on transparent pixels (RGBA) over dark
    ink on white (L).
    """
    k = int(rng.integers(2, 7)) if count is None else count
    indices = tuple(int(i) for i in rng.integers(0, len(images), size=k))
    if transparent is None:
        transparent = bool(rng.integers(0, 2))
    scale = float(rng.uniform(*SCALES))
    patches = [_enlarge(images[i], scale * float(rng.uniform(*SIZES))) for i in indices]
    # Bottoms on a common baseline, each moved by up to BASELINE MNIST pixels.
    bottoms = [float(rng.uniform(-BASELINE, BASELINE)) * scale for _ in patches]
    margin = int(rng.integers(4, 16) * scale)
    top_of = [round(b - p.shape[0]) for b, p in zip(bottoms, patches)]
    lift = margin - min(top_of)
    tops = [t + lift for t in top_of]
    lefts = [margin]
    for prev, nxt, prev_top, nxt_top in zip(patches, patches[1:], tops, tops[1:]):
        right = lefts[-1] + prev.shape[1]
        if touching:
            narrower = min(prev.shape[1], nxt.shape[1])
            left = right - round(float(rng.uniform(0, TOUCH_OVERLAP)) * narrower)
            reach = right - round(SLIDE_LIMIT * narrower)
            step = max(1, round(scale / 4))
            while left > reach and not _touch(prev, lefts[-1], prev_top, nxt, left, nxt_top, scale):
                left -= step
            lefts.append(max(left, reach))
        else:
            lefts.append(right + round(float(rng.uniform(*APART_GAP)) * scale))
    width = lefts[-1] + patches[-1].shape[1] + margin
    height = max(t + p.shape[0] for t, p in zip(tops, patches)) + margin
    ink = np.zeros((height, width), dtype=np.float32)
    boxes = []
    for patch, top, left in zip(patches, tops, lefts):
        region = ink[top : top + patch.shape[0], left : left + patch.shape[1]]
        region += patch * (1 - region)  # ink over ink, as a canvas composites strokes of one colour
        boxes.append((left, top, left + patch.shape[1], top + patch.shape[0]))
    text = "".join(str(int(labels[i])) for i in indices)
    return Number(_encode(ink, transparent), text, indices, tuple(boxes))


def _enlarge(image28: np.ndarray, factor: float) -> np.ndarray:
    """A (28, 28) uint8 MNIST image's ink box enlarged ``factor`` times (bilinear, as
    ``render_like_canvas`` enlarges), cropped to the pixels with any ink: (h, w) float32 in [0, 1]."""
    pixels = np.asarray(image28)
    rows, cols = np.flatnonzero(pixels.any(axis=1)), np.flatnonzero(pixels.any(axis=0))
    crop = pixels[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    # One blank pixel of context each side so the enlarged edges fade as the canvas's do.
    crop = np.pad(crop, 1)
    size = (max(1, round(crop.shape[1] * factor)), max(1, round(crop.shape[0] * factor)))
    big = np.asarray(Image.fromarray(crop, mode="L").resize(size, Image.Resampling.BILINEAR), dtype=np.float32) / 255
    rows, cols = np.flatnonzero(big.any(axis=1)), np.flatnonzero(big.any(axis=0))
    return big[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _touch(a: np.ndarray, ax: int, ay: int, b: np.ndarray, bx: int, by: int, scale: float) -> bool:
    """Whether patches ``a`` at (ax, ay) and ``b`` at (bx, by) have strokes (TOUCH_LEVEL) within one
    MNIST pixel (``scale`` canvas pixels) of each other."""
    reach = max(1, round(scale))
    x0, x1 = max(ax, bx - reach), min(ax + a.shape[1], bx + b.shape[1] + reach)
    y0, y1 = max(ay, by - reach), min(ay + a.shape[0], by + b.shape[0] + reach)
    if x1 <= x0 or y1 <= y0:
        return False
    strong_a = a[y0 - ay : y1 - ay, x0 - ax : x1 - ax] >= TOUCH_LEVEL
    # b's strokes in the same window, grown by ``reach`` pixels (a square neighbourhood).
    grown = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    strong_b = b >= TOUCH_LEVEL
    for dy in (-reach, 0, reach):
        for dx in (-reach, 0, reach):
            gy0, gx0 = by + dy - y0, bx + dx - x0
            sy0, sx0 = max(0, -gy0), max(0, -gx0)
            ty0, tx0 = max(0, gy0), max(0, gx0)
            h = min(b.shape[0] - sy0, grown.shape[0] - ty0)
            w = min(b.shape[1] - sx0, grown.shape[1] - tx0)
            if h > 0 and w > 0:
                grown[ty0 : ty0 + h, tx0 : tx0 + w] |= strong_b[sy0 : sy0 + h, sx0 : sx0 + w]
    return bool((strong_a & grown).any())


def _encode(ink: np.ndarray, transparent: bool) -> bytes:
    """PNG bytes of ``ink`` (h, w) in [0, 1]: dark on white (L), or INK with the ink as alpha on
    (0, 0, 0, 0) pixels (RGBA), the two forms ``render_like_canvas`` sends."""
    level = np.rint(np.clip(ink, 0, 1) * 255).astype(np.uint8)
    if transparent:
        rgba = np.zeros((*level.shape, 4), dtype=np.uint8)
        rgba[level > 0, :3] = INK
        rgba[..., 3] = level
        image = Image.fromarray(rgba, mode="RGBA")
    else:
        image = Image.fromarray(255 - level, mode="L")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
