"""Test helpers: digits as a browser's drawing canvas would upload them, and the marks that are not digits.

The drawings are defined once in ``scripts/drawing.py``, because the scripts and benchmarks draw
the same digits (and must not import from ``tests``); the tests import them from here.
``pen_mark`` draws a tap or a short dash, as the page's round pen leaves it.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from scripts.drawing import SCALE, canvas_png, drawn_digit, render_like_canvas

__all__ = ["SCALE", "drawn_digit", "pen_mark", "render_like_canvas", "strokes"]


def pen_mark(canvas: int, pen: float, length: float, *, angle: float = 0.0, transparent: bool = False) -> bytes:
    """PNG bytes of a ``canvas`` x ``canvas`` pad with one mark of a round pen ``pen`` px wide whose
    centre line is ``length`` px long (0: a tap, a dot of the pen) at ``angle`` radians, a little
    off the pad's centre.

    Anti-aliased as a canvas draws it: each pixel is covered by as much of the pen as reaches it.
    Dark on white (mode L), or with ``transparent`` near-black ink whose alpha is the coverage on
    (0, 0, 0, 0) pixels (mode RGBA), the two forms of ``render_like_canvas``.
    """
    y, x = np.mgrid[0:canvas, 0:canvas] + 0.5  # pixel centres
    cx, cy = 0.45 * canvas, 0.55 * canvas
    dx, dy = math.cos(angle) * length / 2, math.sin(angle) * length / 2
    # Distance from each pixel centre to the centre line, a segment from (cx - dx, cy - dy) to (cx + dx, cy + dy).
    t = ((x - cx + dx) * 2 * dx + (y - cy + dy) * 2 * dy) / max(length**2, 1e-12)
    t = np.clip(t, 0.0, 1.0)
    distance = np.hypot(x - (cx - dx + t * 2 * dx), y - (cy - dy + t * 2 * dy))
    cover = np.clip(pen / 2 - distance + 0.5, 0.0, 1.0)
    return canvas_png(np.rint(cover * 255).astype(np.uint8), transparent=transparent)


def strokes(count: int, *, height: int = 60, pen: int = 6, gap: int = 24) -> bytes:
    """PNG bytes of ``count`` upright strokes side by side, ``gap`` px apart, dark on white: ``count``
    ones, as far as a reader of whole numbers can tell, each well apart from the next."""
    width = count * (pen + gap) + gap
    pixels = np.full((height + 2 * gap, width), 255, dtype=np.uint8)
    for k in range(count):
        left = gap + k * (pen + gap)
        pixels[gap : gap + height, left : left + pen] = 0
    out = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(out, format="PNG")
    return out.getvalue()
