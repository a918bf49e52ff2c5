"""Photos of ink on paper: telling them from drawings, and removing the paper's light.

A phone photo of a digit written on paper is not a drawing on a flat background: the paper's
brightness changes across the frame (the light falls off, a hand or the phone casts a soft
shadow, the paper may be coloured or textured), the sensor adds noise and JPEG its artefacts,
and there may be ruled lines or the paper's edge with the table beyond it. Measured against its
border's colour, as a drawing is, such a photo keeps its light gradient and its shadow as grey
"ink".

``looks_like_photo`` tells the two apart cheaply: a drawing's background is one flat colour,
a photo's is not. ``find_ink`` estimates the paper's brightness at a large scale (the image
shrunk, the ink removed by a closing, i.e. a maximum then a minimum filter larger than any
stroke), divides it out, and maps the darkening that is left to ink with an Otsu threshold,
keeping the strokes' soft edges. Marks thinner than a digit's strokes (ruled lines) are dropped,
and so are the paper's edge and the table beyond it (the paper's light there is the table's).

Pillow and NumPy only; this module does not import ``model.preprocess`` (which imports it).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image, ImageFilter

# -- telling a photo from a drawing -------------------------------------------------------------

MIN_PHOTO_SIDE = 32  # smaller images are not photos (and too small to estimate a background in)
SAMPLE_PIXELS = 40_000  # looks_like_photo looks at about this many pixels, on a regular grid
FLAT_FRACTION = 0.3  # a drawing has at least this share of its pixels within 1/255 of one level
MIN_PAPER_LEVEL = 0.3  # the typical pixel of a photo of paper (the paper) is at least this light
MAX_GRAIN = 0.06  # the median step between neighbouring samples of a photo: noise, not random pixels

# -- removing the paper's light -----------------------------------------------------------------

SMALL_SIDE = 80  # the background is estimated on the image shrunk to about this many pixels a side
CLOSING_FRACTION = 0.2  # the closing's window, as a fraction of the shorter side: wider than a stroke
MIN_INK = 0.2  # ink darkens the paper by at least this fraction; less is no ink at all (zeros)
MAX_INK_SHARE = 0.45  # a digit covers less than this share of a photo; more is no digit (zeros)
THIN_FRACTION = 0.004  # marks thinner than about 2x this fraction of the shorter side are not strokes
SOFT_FRACTION = 0.012  # ink within this fraction of the shorter side of a stroke is its soft edge


def looks_like_photo(grey: np.ndarray) -> bool:
    """Whether the opaque greyscale image ``grey`` (h, w) in [0, 1] is a photo of paper.

    A drawing, a rendering or a scan has a flat background: a large share of its pixels at one
    level. A photo's paper is lit unevenly and noisy, so no level holds many pixels; it is light
    (dark ink on paper), and its pixels change little from one to the next (unlike random noise).
    Looks at about ``SAMPLE_PIXELS`` pixels, so it costs little at any size.
    """
    values = np.asarray(grey, dtype=np.float32)
    if values.ndim != 2 or min(values.shape) < MIN_PHOTO_SIDE:
        return False
    step = max(1, math.isqrt(values.size // SAMPLE_PIXELS))
    sample = values[::step, ::step]
    levels = np.clip(np.rint(np.nan_to_num(sample) * 255), 0, 255).astype(np.intp)
    counts = np.bincount(levels.ravel(), minlength=256)
    mode = int(counts.argmax())
    if counts[max(mode - 1, 0) : mode + 2].sum() >= FLAT_FRACTION * levels.size:
        return False  # a flat background
    if np.median(levels) < MIN_PAPER_LEVEL * 255:
        return False  # light on dark: a drawing, a slide, a blackboard, not ink on paper
    grain = np.median(np.abs(np.diff(levels, axis=1))) / 255
    return bool(grain <= MAX_GRAIN)


def find_ink(grey: np.ndarray) -> np.ndarray:
    """A photo's greyscale (h, w) in [0, 1] -> its ink (h, w) float32 in [0, 1], 0 = paper.

    1 is the ink's typical full strength, with soft edges in between, as a canvas drawing's
    ink. All zeros when there is no ink (only paper, or only a shadow: nothing darkens the paper
    by ``MIN_INK``), or when the "ink" covers too much of the image to be a digit
    (``MAX_INK_SHARE``): ``preprocess.ink_to_mnist`` refuses that as a blank image.
    """
    values = np.nan_to_num(np.asarray(grey, dtype=np.float32))
    h, w = values.shape
    zeros = np.zeros((h, w), dtype=np.float32)
    if min(h, w) < 2:
        return zeros
    background = _background(values)
    darkening = np.clip(1.0 - values / np.maximum(background, 1e-3), 0.0, 1.0)
    levels = _levels(darkening)
    if levels is None:
        return zeros
    threshold, low, high = levels
    strong = darkening > threshold
    if strong.mean() > MAX_INK_SHARE:
        return zeros
    ink = np.clip((darkening - low) / (high - low), 0.0, 1.0)
    return (ink * _near_strokes(strong)).astype(np.float32)


def _background(grey: np.ndarray) -> np.ndarray:
    """The paper's brightness under the ink (h, w): ``grey`` without its dark marks, smooth.

    On the image shrunk by a whole factor to about ``SMALL_SIDE`` a side (block means, which
    also average the noise away), a maximum filter wider than any stroke removes the ink and a
    minimum filter one block wider on each side restores the shape of the light, a little on the
    dark side: at a sharp boundary (the paper's edge and the dark table beyond it) the estimate
    is the darker side's, so the boundary is not taken for ink. Then upscaled smoothly.
    """
    h, w = grey.shape
    factor = max(1, min(h, w) // SMALL_SIDE)
    small = np.asarray(Image.fromarray(grey, mode="F").reduce(factor), dtype=np.float32)
    window = 2 * max(1, round(CLOSING_FRACTION * min(small.shape) / 2)) + 1
    closed = _min_filter(_max_filter(small, window), window + 2)
    return np.asarray(Image.fromarray(closed, mode="F").resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)


def _max_filter(a: np.ndarray, size: int) -> np.ndarray:
    """Maximum over a ``size`` x ``size`` window (odd) around each pixel of ``a`` (h, w), edges repeated."""
    r = size // 2
    padded = np.pad(a, r, mode="edge")
    rows = sliding_window_view(padded, size, axis=0).max(axis=-1)
    return sliding_window_view(rows, size, axis=1).max(axis=-1)


def _min_filter(a: np.ndarray, size: int) -> np.ndarray:
    """Minimum over a ``size`` x ``size`` window (odd) around each pixel of ``a`` (h, w), edges repeated."""
    return -_max_filter(-a, size)


def _levels(darkening: np.ndarray) -> tuple[float, float, float] | None:
    """(threshold, paper, ink) levels of ``darkening`` (h, w), or None when there is no ink.

    The threshold is Otsu's (the level that best splits the histogram in two); the paper's level
    is near the top of the paper's noise, the ink's the median of the pixels beyond the threshold,
    so that the core of a stroke maps to 1 and its soft edges in between.
    """
    step = max(1, math.isqrt(darkening.size // SAMPLE_PIXELS))
    sample = darkening[::step, ::step].ravel()
    bins = 128
    counts = np.bincount(np.minimum((sample * bins).astype(np.intp), bins - 1), minlength=bins).astype(np.float64)
    centres = (np.arange(bins) + 0.5) / bins
    weight = np.cumsum(counts)
    mass = np.cumsum(counts * centres)
    total, total_mass = weight[-1], mass[-1]
    below, above = weight[:-1], total - weight[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total_mass * below / total - mass[:-1]) ** 2 / (below * above)
    between = np.nan_to_num(between, nan=-1.0, posinf=-1.0)
    cut = int(between.argmax()) + 1  # the ink is bins [cut, bins)
    threshold = cut / bins
    inked = sample[sample >= threshold]
    if inked.size == 0:
        return None
    high = float(np.median(inked))
    if high < MIN_INK:
        return None
    paper = sample[sample < threshold]
    low = float(np.quantile(paper, 0.98)) if paper.size else 0.0
    low = min(low, 0.5 * threshold)
    return threshold, low, max(high, low + 1e-3)


def _near_strokes(strong: np.ndarray) -> np.ndarray:
    """(h, w) float32: 1 near the strokes in the mask ``strong`` (h, w) of dark pixels, 0 elsewhere.

    A stroke is what survives an opening of the mask (a square window, ``THIN_FRACTION`` of the
    shorter side): ruled lines and other marks thinner than that do not. Everything within
    ``SOFT_FRACTION`` of a stroke is kept, so its soft edges are. Worked out at half size.
    """
    h, w = strong.shape
    half = 2 if min(h, w) >= 4 * MIN_PHOTO_SIDE else 1
    mask = Image.fromarray(strong.astype(np.uint8) * 255, mode="L")
    if half > 1:
        mask = mask.reduce(half)
    side = min(h, w) / half
    thin = max(1, round(THIN_FRACTION * side))
    eroded = np.asarray(mask.filter(ImageFilter.BoxBlur(thin))) >= 250
    if not eroded.any():
        return np.zeros((h, w), dtype=np.float32)
    soft = thin + max(1, round(SOFT_FRACTION * side))
    near = Image.fromarray(eroded.astype(np.uint8) * 255, mode="L").filter(ImageFilter.BoxBlur(soft))
    near = near.point(lambda v: 255 if v > 0 else 0)
    if half > 1:
        near = near.resize((w, h), Image.Resampling.NEAREST)
    return np.asarray(near, dtype=np.float32) / 255
