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
FLAT_FRACTION = 0.4  # a drawing has at least this share of its pixels at one level (its background)
MIN_PAPER_LEVEL = 0.2  # the typical pixel of a photo of paper (the paper) is at least this light
MAX_GRAIN = 0.06  # the median step between neighbouring samples of a photo: noise, not random pixels

# -- removing the paper's light -----------------------------------------------------------------

SMALL_SIDE = 80  # the background is estimated on the image shrunk to about this many pixels a side
CLOSING_FRACTION = 0.2  # the closing's window, as a fraction of the shorter side: wider than a stroke
EXTRA_EROSION = 2  # blocks the closing's minimum filter reaches beyond its maximum filter, on each side
# The table beyond the paper's edge: a region reaching the frame's border at least this much darker
# than the paper's light nearby (a shadow darkens the paper less: it lets some light through) ...
TABLE_DARKENING = 0.5
EDGE_DARKENING = 0.15  # ... from the blocks at the border this much darker (partly beyond the edge) ...
TABLE_LEVEL = 0.25  # ... and anywhere light this dim, compared with the paper's at its brightest
PEAK_QUANTILE = 0.9995  # the ink's peak darkening: this quantile of all pixels (a small digit has more)
INK_QUANTILE = 0.5  # full-strength ink is this quantile of the pixels beyond the threshold
MIN_INK = 0.2  # ink darkens the paper by at least this fraction; less is no ink at all (zeros)
MAX_INK_SHARE = 0.45  # a digit covers less than this share of a photo; more is no digit (zeros)
THIN_FRACTION = 0.004  # marks thinner than about 2x this fraction of the shorter side are not strokes
BORDER_FRACTION = 0.03  # no ink is taken within this fraction of the shorter side of the frame's border
REACH_FRACTION = 0.045  # a stroke this close to the border (a fraction of the shorter side) is dropped
SOFT_FRACTION = 0.012  # ink within this fraction of the shorter side of a stroke is its soft edge


def looks_like_photo(grey: np.ndarray) -> bool:
    """Whether the opaque greyscale image ``grey`` (h, w) in [0, 1] is a photo of paper.

    A drawing, a rendering or a scan has a flat background: a large share of its pixels at one
    level. A photo's paper is lit unevenly and noisy, so no level holds many pixels; it is light
    (dark ink on paper), and its pixels change little from one to the next (unlike random noise).
    Looks at about ``SAMPLE_PIXELS`` pixels, so it costs little at any size.
    """
    values = np.asarray(grey)
    if values.ndim != 2 or min(values.shape) < MIN_PHOTO_SIDE:
        return False
    step = max(1, math.isqrt(values.size // SAMPLE_PIXELS))
    sample = np.nan_to_num(values[::step, ::step].astype(np.float32))
    levels = np.clip(sample * 255 + 0.5, 0, 255).astype(np.intp)
    counts = np.bincount(levels.ravel(), minlength=256)
    if counts.max() >= FLAT_FRACTION * levels.size:
        return False  # a flat background
    if np.searchsorted(np.cumsum(counts), levels.size / 2) < MIN_PAPER_LEVEL * 255:
        return False  # mostly dark: light on dark (a drawing, a blackboard), not ink on paper
    steps = np.bincount(np.abs(np.diff(levels, axis=1)).ravel(), minlength=256)
    grain = np.searchsorted(np.cumsum(steps), steps.sum() / 2) / 255  # the median step
    return bool(grain <= MAX_GRAIN)


def find_ink(grey: np.ndarray) -> np.ndarray:
    """A photo's greyscale (h, w) in [0, 1] -> its ink (h, w) float32 in [0, 1], 0 = paper.

    1 is the ink's typical full strength, with soft edges in between, as a canvas drawing's
    ink. All zeros when there is no ink (only paper, or only a shadow: nothing darkens the paper
    by ``MIN_INK``), or when the "ink" covers too much of the image to be a digit
    (``MAX_INK_SHARE``): ``preprocess.ink_to_mnist`` refuses that as a blank image.
    """
    values = np.asarray(grey, dtype=np.float32)
    h, w = values.shape
    if min(h, w) < 2:
        return np.zeros((h, w), dtype=np.float32)
    if not np.isfinite(values.sum()):
        values = np.nan_to_num(values)
    # How much darker than the paper each pixel is: 0 on the paper, about 0.8 in black ink.
    darkening = _background(values)
    np.divide(values, darkening, out=darkening)
    np.subtract(1.0, darkening, out=darkening)
    np.clip(darkening, 0.0, 1.0, out=darkening)
    levels = _levels(darkening)
    if levels is None:
        return np.zeros((h, w), dtype=np.float32)
    threshold, low, high = levels
    near = _near_strokes(darkening, threshold)
    if near is None:
        return np.zeros((h, w), dtype=np.float32)
    # The ink from the paper's noise (low) to the strokes' typical level (high): soft edges kept.
    ink = np.subtract(darkening, low, out=darkening)
    ink *= 1.0 / (high - low)
    np.clip(ink, 0.0, 1.0, out=ink)
    ink *= near
    return ink


def _background(grey: np.ndarray) -> np.ndarray:
    """The paper's brightness under the ink (h, w) float32, a new array: ``grey`` without its
    dark marks, smooth; and beyond the paper's edge (the table) almost 0, so no ink is found there.

    On the image shrunk by a whole factor to about ``SMALL_SIDE`` a side (block means, which
    also average the noise away), a maximum filter wider than any stroke removes the ink and a
    minimum filter one block wider on each side restores the shape of the light, a little on the
    dark side (so that next to a dark region the paper is not taken for ink). Then upscaled smoothly.
    """
    h, w = grey.shape
    factor = max(1, min(h, w) // SMALL_SIDE)
    small = np.asarray(Image.fromarray(grey, mode="F").reduce(factor), dtype=np.float32)
    window = 2 * max(1, round(CLOSING_FRACTION * min(small.shape) / 2)) + 1
    lightest = _max_filter(small, window)  # the paper's light nearby, at its brightest
    closed = np.maximum(_min_filter(lightest, window + 2 * EXTRA_EROSION), 1e-3)
    beyond = _beyond_the_paper(small, lightest, closed)
    if beyond is not None:
        closed[beyond] = 1e-6  # grey / background is huge there: no darkening, no ink
    background = Image.fromarray(closed, mode="F").resize((w, h), Image.Resampling.BILINEAR)
    return np.array(background, dtype=np.float32)


def _beyond_the_paper(small: np.ndarray, lightest: np.ndarray, closed: np.ndarray) -> np.ndarray | None:
    """Where the shrunk image ``small`` (h, w) is beyond the paper's edge (h, w) bool, or None.

    ``lightest`` is ``small``'s maximum filter (the paper's light nearby at its brightest) and
    ``closed`` the closing. The closing fills a dark region narrower than its window (the table in
    a corner, a strip of it along a side) with the paper's light, so there the table would look
    like ink: a region that reaches the frame's border (the digit is on the paper, inside the
    frame) and is much darker than the paper's light nearby (``TABLE_DARKENING``; a shadow darkens
    the paper less). It is grown from the border's darker blocks through dark blocks (a
    reconstruction), one block wider. Where even the closing is very dark (``TABLE_LEVEL`` of the
    paper at its brightest) there is no paper to find ink on: the noise there, divided by so
    little light, would look like ink.
    """
    dark = small < (1 - TABLE_DARKENING) * lightest
    # At the border, a block only partly beyond the edge (where the edge leaves the frame) is darker by less.
    darker = small < (1 - EDGE_DARKENING) * closed
    seed = np.zeros_like(dark)
    seed[0], seed[-1], seed[:, 0], seed[:, -1] = darker[0], darker[-1], darker[:, 0], darker[:, -1]
    dark |= seed
    unlit = closed < TABLE_LEVEL * np.quantile(closed, 0.9)
    if not seed.any() and not unlit.any():
        return None
    return _dilate(_grow_within(seed, dark)) | unlit


def _grow_within(seed: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``seed`` (h, w) bool grown a pixel at a time (``_dilate``) within ``mask`` until it stops growing."""
    grown, count = seed, int(np.count_nonzero(seed))
    while count:
        grown = _dilate(grown) & mask
        now = int(np.count_nonzero(grown))
        if now == count:
            break
        count = now
    return grown


def _dilate(mask: np.ndarray) -> np.ndarray:
    """``mask`` (h, w) bool grown by one pixel in all eight directions."""
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    rows = out.copy()
    out[:, 1:] |= rows[:, :-1]
    out[:, :-1] |= rows[:, 1:]
    return out


def _max_filter(a: np.ndarray, size: int) -> np.ndarray:
    """Maximum over a ``size`` x ``size`` window (odd) around each pixel of ``a`` (h, w), edges repeated."""
    r = size // 2
    padded = np.pad(a, r, mode="edge")
    rows = sliding_window_view(padded, size, axis=0).max(axis=-1)
    return sliding_window_view(rows, size, axis=1).max(axis=-1)


def _min_filter(a: np.ndarray, size: int) -> np.ndarray:
    """Minimum over a ``size`` x ``size`` window (odd) around each pixel of ``a`` (h, w), edges repeated."""
    return -_max_filter(-a, size)


BINS = 256  # the darkening's histogram, for Otsu's threshold and the levels


def _levels(darkening: np.ndarray) -> tuple[float, float, float] | None:
    """(threshold, paper, ink) levels of ``darkening`` (h, w), or None when there is no ink.

    The threshold is Otsu's (the level that best splits the histogram in two), or half the
    ink's peak if that is higher: Otsu's splits a histogram whose ink is a small share of the
    pixels (a small digit) inside the paper's texture and ruled lines. The paper's level is near
    the top of the paper's noise, the ink's the median of the pixels beyond the threshold, so that
    the core of a stroke maps to 1 and its soft edges in between.
    """
    step = max(1, math.isqrt(darkening.size // SAMPLE_PIXELS))
    sample = darkening[::step, ::step]
    counts = np.bincount((sample * (BINS - 1) + 0.5).astype(np.intp).ravel(), minlength=BINS).astype(np.float64)
    centres = np.arange(BINS) / (BINS - 1)
    weight, mass = np.cumsum(counts), np.cumsum(counts * centres)
    total = weight[-1]
    below, above = weight[:-1], total - weight[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mass[-1] * below / total - mass[:-1]) ** 2 / (below * above)
    otsu = int(np.nan_to_num(between, nan=-1.0, posinf=-1.0).argmax()) + 1  # ink is bins [otsu, BINS)
    peak = int(np.searchsorted(weight, PEAK_QUANTILE * total))
    cut = max(otsu, (peak + 1) // 2, 1)
    if weight[cut - 1] >= total:
        return None
    threshold = (cut - 0.5) / (BINS - 1)
    # The median bin of the ink, and the bin below which 98 % of the paper lies.
    high = centres[np.searchsorted(weight, weight[cut - 1] + INK_QUANTILE * (total - weight[cut - 1]))]
    low = min(centres[np.searchsorted(weight, 0.98 * weight[cut - 1])], 0.5 * threshold)
    if high < MIN_INK:
        return None
    return threshold, float(low), float(max(high, low + 1e-3))


def _near_strokes(darkening: np.ndarray, threshold: float) -> np.ndarray | None:
    """(h, w) float32: 1 near the strokes of the pixels of ``darkening`` (h, w) beyond
    ``threshold``, 0 elsewhere; None when there are no strokes, or too much "ink" for a digit.

    A stroke is what survives an opening of those pixels (a square window, ``THIN_FRACTION`` of
    the shorter side): ruled lines and other marks thinner than that do not. Everything within
    ``SOFT_FRACTION`` of a stroke is kept, so its soft edges are. A digit photographed is inside
    the frame, so strokes that come within ``REACH_FRACTION`` of its border (the paper's edge,
    the table, a shadow's tip the closing filled) are dropped, and nothing is kept within
    ``BORDER_FRACTION`` of it. Worked out at half size.
    """
    h, w = darkening.shape
    half = 2 if min(h, w) >= 4 * MIN_PHOTO_SIDE else 1
    strong = darkening[::half, ::half] > threshold
    if strong.mean() > MAX_INK_SHARE:
        return None
    side = min(strong.shape)
    thin = max(1, round(THIN_FRACTION * side))
    mask = Image.fromarray(strong.view(np.uint8) * np.uint8(255), mode="L")
    eroded = mask.filter(ImageFilter.BoxBlur(thin)).point(lambda v: 255 if v >= 250 else 0)
    if not eroded.getbbox():
        return None
    band = max(1, round(BORDER_FRACTION * side))
    eroded = _off_the_border(eroded, max(1, round(REACH_FRACTION * side)))
    if not eroded.getbbox():
        return None
    soft = thin + max(1, round(SOFT_FRACTION * side))
    near = eroded.filter(ImageFilter.BoxBlur(soft)).point(lambda v: 1 if v > 0 else 0)
    near.paste(0, (0, 0, near.width, band))
    near.paste(0, (0, near.height - band, near.width, near.height))
    near.paste(0, (0, 0, band, near.height))
    near.paste(0, (near.width - band, 0, near.width, near.height))
    if half > 1:
        near = near.resize((w, h), Image.Resampling.NEAREST)
    return np.asarray(near, dtype=np.float32)


def _off_the_border(strokes: Image.Image, band: int) -> Image.Image:
    """``strokes`` (mode L, 0 or 255) without the strokes that reach within ``band`` pixels of its
    border: grown, in blocks of ``band`` pixels, from the blocks at the border through inked blocks."""
    blocks = np.asarray(strokes.reduce(band)) > 0
    reach = np.zeros_like(blocks)
    reach[0], reach[-1], reach[:, 0], reach[:, -1] = blocks[0], blocks[-1], blocks[:, 0], blocks[:, -1]
    if not reach.any():
        return strokes
    reach = _grow_within(reach, blocks)
    drop = Image.fromarray(reach.view(np.uint8) * np.uint8(255), mode="L").resize(
        (blocks.shape[1] * band, blocks.shape[0] * band), Image.Resampling.NEAREST
    )
    kept = strokes.copy()
    kept.paste(0, (0, 0), drop.crop((0, 0, strokes.width, strokes.height)))
    return kept
