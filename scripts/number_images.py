"""Whole numbers drawn the way the page's canvas sends them, for the tests and the benchmarks.

``make_number(images, labels, rng, touching=...)`` writes 2 to 6 MNIST digits side by side as one
canvas-like PNG (dark ink on white, or near-black ink on transparent pixels, as
``scripts.drawing.render_like_canvas`` does for one digit), with random gaps, sizes (0.8-1.25)
and baselines (up to 2 MNIST pixels up or down), and returns the PNG, the true text, the
digits' indices and their ink boxes. The layout is ``model.verifier_train.compose``'s, the one
the verifier was trained on (from MNIST *training* digits; the tests and benchmarks draw test
digits).

- ``touching=False`` (apart): a gap of 4 to 10 MNIST pixels (scaled like the digits) between
  neighbours' ink boxes; no strokes touch.
- ``touching=True``: each digit is placed where its strokes just meet its left neighbour's (some
  row has a pixel of at least a quarter of full ink in both, no row has them crossed), at the
  height the baseline allows that needs the least overlap of their boxes, then pushed into it by
  up to half an MNIST pixel more. Measured on 2,000 pairs of MNIST test digits (seed 0, ``count=2``):
  100 % of neighbours' strokes touch or overlap (``Number.touched``), and 0 % when apart; their
  ink boxes overlap by a median 19 % of the narrower digit's width (95th percentile 49 %: a 7's
  bar over the next digit).

Nothing here imports from ``tests``; the tests import this module directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.verifier_train import SIZES, compose, enlarge
from scripts.drawing import canvas_png

SCALES = (3.0, 8.0)  # canvas pixels per MNIST pixel, drawn per number (the page's pad is 10)


@dataclass(frozen=True)
class Number:
    """One generated number: its PNG, what it says, and where its digits are."""

    png: bytes
    text: str  # the digits' labels, left to right, e.g. "2026"
    indices: tuple[int, ...]  # each digit's index in the images it was drawn from
    boxes: tuple[tuple[int, int, int, int], ...]  # each digit's ink box (x0, y0, x1, y1), x1/y1 exclusive
    touched: tuple[bool, ...]  # for each pair of neighbours, whether their strokes overlap


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
    patches = [enlarge(images[i], scale * float(rng.uniform(*SIZES))) for i in indices]
    layout = compose(patches, rng, touching=touching, scale=scale)
    boxes = tuple(
        (left, top, left + p.shape[1], top + p.shape[0]) for p, top, left in zip(patches, layout.tops, layout.lefts)
    )
    text = "".join(str(int(labels[i])) for i in indices)
    return Number(_encode(layout.ink, transparent), text, indices, boxes, layout.touched)


def aligned_correct(truth: str, read: str) -> int:
    """The most digits of ``truth`` matched, in order, by equal digits of ``read`` (a longest
    common subsequence): how many true digits were read right at their place, so that one digit
    lost or split does not count all the rest as wrong."""
    previous = [0] * (len(read) + 1)
    for t in truth:
        current = [0]
        for j, r in enumerate(read):
            current.append(previous[j] + 1 if t == r else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def _encode(ink: np.ndarray, transparent: bool) -> bytes:
    """PNG bytes of ``ink`` (h, w) in [0, 1]: dark on white (L), or INK with the ink as alpha on
    (0, 0, 0, 0) pixels (RGBA), the two forms ``render_like_canvas`` sends."""
    return canvas_png(np.rint(np.clip(ink, 0, 1) * 255).astype(np.uint8), transparent=transparent)
