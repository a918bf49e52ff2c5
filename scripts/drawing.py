"""Digits drawn the way the page's canvas sends them, for the scripts, the benchmarks and the tests.

``drawn_digit`` draws a 1, 7 or 0 in thick dark strokes on white, as a person does on the page.
``render_like_canvas`` turns a (28, 28) MNIST image (light ink on black) into the PNG bytes a page
with a canvas sends, so that ``model.preprocess`` can be checked to undo the difference and a
script can post MNIST digits as if someone had drawn them.

Scripts and benchmarks import this module; the tests reach it through ``tests.support.canvas``.
Nothing here imports from ``tests``.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from model.shape import SIDE

SCALE = 10  # MNIST's 28 px become 280 px, about the size a person draws at
INK = (17, 17, 17)  # the stroke colour on a transparent canvas: near-black


def canvas_png(level: np.ndarray, *, transparent: bool) -> bytes:
    """PNG bytes of the ink ``level`` (h, w) uint8, 0 = none, in the two forms a canvas sends:
    INK with ``level`` as its alpha on (0, 0, 0, 0) pixels (RGBA), or dark on white (L)."""
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


def render_like_canvas(
    image28: np.ndarray, rng: np.random.Generator, *, transparent: bool = False, canvas: int = 400
) -> bytes:
    """PNG bytes of ``image28`` drawn the way a browser canvas would send it.

    ``image28`` is (28, 28), uint8 0-255 or float in [0, 1], light ink on black (as MNIST).
    It is enlarged 10x to 280x280 with a smooth (bilinear) resize and pasted at a random
    position, drawn from ``rng``, on a ``canvas`` x ``canvas`` field (``canvas`` >= 280):

    - ``transparent=False``: mode L, dark ink on white (the digit inverted).
    - ``transparent=True``: mode RGBA, near-black ink whose alpha is the ink's intensity, on
      fully transparent (0, 0, 0, 0) pixels, as ``canvas.toDataURL()`` gives for strokes on a
      cleared canvas.
    """
    pixels = np.asarray(image28)
    if pixels.shape != (SIDE, SIDE):
        raise ValueError(f"expected a ({SIDE}, {SIDE}) image, got shape {pixels.shape}")
    if pixels.dtype != np.uint8:
        pixels = np.rint(np.clip(pixels, 0, 1) * 255).astype(np.uint8)
    side = SIDE * SCALE
    if canvas < side:
        raise ValueError(f"canvas must be at least {side} pixels, got {canvas}")
    ink = Image.fromarray(pixels, mode="L").resize((side, side), Image.Resampling.BILINEAR)
    top, left = (int(v) for v in rng.integers(0, canvas - side + 1, size=2))
    if transparent:
        field = Image.new("RGBA", (canvas, canvas), (0, 0, 0, 0))
        stroke = Image.new("RGBA", (side, side), (*INK, 255))
        stroke.putalpha(ink)
        # Where the stroke's alpha is 0 the pixel stays (0, 0, 0, 0), as on a cleared canvas.
        stroke = Image.fromarray(np.where(np.asarray(stroke)[..., 3:] > 0, np.asarray(stroke), 0).astype(np.uint8))
        field.paste(stroke, (left, top))
    else:
        field = Image.new("L", (canvas, canvas), 255)
        field.paste(Image.eval(ink, lambda v: 255 - v), (left, top))
    out = io.BytesIO()
    field.save(out, format="PNG")
    return out.getvalue()


def drawn_digit(digit: str = "1", size: int = 280, mode: str = "RGB", fmt: str = "PNG") -> bytes:
    """A ``size`` x ``size`` image of ``digit`` ("1", "7" or "0") drawn the way a person would on
    the page: thick dark strokes on white, in Pillow ``mode``, encoded as ``fmt``."""
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    s = size / 280  # the strokes are laid out on the page's 280 px canvas
    width = round(22 * s)
    if digit == "1":
        draw.line([(140 * s, 40 * s), (140 * s, 240 * s)], fill="black", width=width)
    elif digit == "7":
        draw.line([(70 * s, 50 * s), (210 * s, 50 * s), (120 * s, 240 * s)], fill="black", width=width, joint="curve")
    elif digit == "0":
        draw.ellipse([(80 * s, 40 * s), (200 * s, 240 * s)], outline="black", width=width)
    else:
        raise ValueError(digit)
    buffer = io.BytesIO()
    image.convert(mode).save(buffer, fmt)
    return buffer.getvalue()
