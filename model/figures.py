"""Report figures drawn with Pillow alone: training curves, a confusion matrix, a grid of mistakes.

Each function writes one PNG through ``atomic_write``, so a half-written figure never replaces
a good one. Only Pillow's bundled font is used (``ImageFont.load_default``), so no system font
files are needed; without FreeType the figures still render, with Pillow's small bitmap font.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from PIL import Image, ImageDraw, ImageFont

from model.fileio import atomic_write

__all__ = ["confusion_matrix_figure", "mistakes_grid", "training_curves"]

_WHITE = (255, 255, 255)
_TEXT = (40, 40, 40)
_MUTED = (110, 110, 110)
_FAINT = (185, 185, 185)
_FRAME = (170, 170, 170)
_GRID = (232, 232, 232)
_TRAIN = (31, 119, 180)  # blue
_VALID = (230, 97, 1)  # orange
_ERROR = (200, 30, 30)

# Colour ramps (light -> dark) for the confusion matrix.
_BLUES = ((222, 235, 247), (107, 174, 214), (8, 48, 107))
_REDS = ((255, 236, 228), (248, 131, 100), (153, 0, 13))

# Text sizes in pixels, chosen to stay legible when a README shows the PNG ~880 pixels wide.
_TICK = 14.0  # tick labels, cell counts, legends, notes
_LABEL = 16.0  # axis titles
_PANEL = 18.0  # the title over each plot
_TITLE = 20.0  # figure titles
_CAPTION = 16.0  # the mistakes grid's captions

_ARROW = object()  # a token in _Canvas.rich_text's parts: the font may have no arrow glyph


@functools.lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError, TypeError, ValueError):  # no FreeType, or Pillow < 10.1
        return ImageFont.load_default()


class _Canvas:
    """An RGB image addressed in logical pixels, drawn ``scale`` times larger and shrunk at the end.

    Pillow draws lines without antialiasing; supersampling gives smooth curves and dots.
    """

    def __init__(self, width: int, height: int, scale: int = 2, resample: int = Image.Resampling.LANCZOS):
        self.width, self.height, self.scale, self.resample = width, height, scale, resample
        self.image = Image.new("RGB", (width * scale, height * scale), _WHITE)
        self.draw = ImageDraw.Draw(self.image)

    def _xy(self, x: float, y: float) -> tuple[float, float]:
        return x * self.scale, y * self.scale

    def _font(self, size: float) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        return _font(max(1, round(size * self.scale)))

    def line(self, points: Sequence[tuple[float, float]], fill, width: float = 1.0) -> None:
        w = max(1, round(width * self.scale))
        self.draw.line([self._xy(x, y) for x, y in points], fill=fill, width=w, joint="curve")

    def dashed_line(self, p: tuple[float, float], q: tuple[float, float], fill, dash: float = 4.0) -> None:
        length = math.dist(p, q)
        steps = max(1, int(length / dash))
        for i in range(0, steps, 2):
            a, b = i / steps, min(i + 1, steps) / steps
            self.line(
                [
                    (p[0] + (q[0] - p[0]) * a, p[1] + (q[1] - p[1]) * a),
                    (p[0] + (q[0] - p[0]) * b, p[1] + (q[1] - p[1]) * b),
                ],
                fill,
            )

    def rect(self, box: Sequence[float], fill=None, outline=None, width: float = 1.0) -> None:
        x0, y0, x1, y1 = (v * self.scale for v in box)
        w = max(1, round(width * self.scale))
        self.draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=fill, outline=outline, width=w)

    def dot(self, x: float, y: float, radius: float, fill, outline=None, width: float = 1.0) -> None:
        s = self.scale
        w = max(1, round(width * s))
        self.draw.ellipse(
            (x * s - radius * s, y * s - radius * s, x * s + radius * s, y * s + radius * s),
            fill=fill,
            outline=outline,
            width=w,
        )

    def polygon(self, points: Sequence[tuple[float, float]], fill) -> None:
        self.draw.polygon([self._xy(x, y) for x, y in points], fill=fill)

    def text_width(self, text: str, size: float) -> float:
        left, _, right, _ = self._font(size).getbbox(text)
        return (right - left) / self.scale

    def text_height(self, size: float) -> float:
        """The height of a digit: text is aligned on digits so labels in a row share a baseline."""
        _, top, _, bottom = self._font(size).getbbox("0")
        return (bottom - top) / self.scale

    def text(
        self, x: float, y: float, text: str, size: float, fill=_TEXT, ha: str = "left", va: str = "top"
    ) -> tuple[float, float, float, float]:
        """Draw ``text`` aligned on (x, y); return its box (x0, y0, x1, y1) in logical pixels."""
        font = self._font(size)
        left, _, right, _ = font.getbbox(text)
        _, top, _, bottom = font.getbbox("0")
        w, h = (right - left) / self.scale, (bottom - top) / self.scale
        x0 = x - {"left": 0.0, "center": w / 2, "right": w}[ha]
        y0 = y - {"top": 0.0, "center": h / 2, "bottom": h}[va]
        self.draw.text((x0 * self.scale - left, y0 * self.scale - top), text, font=font, fill=fill)
        return x0, y0, x0 + w, y0 + h

    def vtext(self, x: float, y: float, text: str, size: float, fill=_TEXT) -> None:
        """Draw ``text`` turned 90° anticlockwise, centred on (x, y)."""
        font = self._font(size)
        left, top, right, bottom = font.getbbox(text)
        mask = Image.new("L", (right - left + 2, bottom - top + 2), 0)
        ImageDraw.Draw(mask).text((1 - left, 1 - top), text, font=font, fill=255)
        mask = mask.rotate(90, expand=True)
        at = (round(x * self.scale - mask.width / 2), round(y * self.scale - mask.height / 2))
        self.image.paste(Image.new("RGB", mask.size, fill), at, mask)

    def rich_text(
        self, x: float, y: float, parts: Sequence[tuple[Any, Any]], size: float, ha: str = "center", va: str = "center"
    ) -> None:
        """Draw (text, colour) runs side by side; the ``_ARROW`` token draws a right arrow."""
        arrow_w, gap = size * 0.9, size * 0.25  # together as wide as _part_width says
        total = self.rich_text_width(parts, size)
        cx = x - {"left": 0.0, "center": total / 2, "right": total}[ha]
        h = self.text_height(size)
        mid = y - {"top": -h / 2, "center": 0.0, "bottom": h / 2}[va]
        for part, colour in parts:
            if part is _ARROW:
                x0, x1 = cx + gap, cx + gap + arrow_w
                head = size * 0.32
                self.line([(x0, mid), (x1 - head * 0.6, mid)], colour, width=max(1.0, size / 11))
                self.polygon([(x1, mid), (x1 - head, mid - head * 0.75), (x1 - head, mid + head * 0.75)], colour)
            else:
                self.text(cx, mid, part, size, colour, ha="left", va="center")
            cx += self._part_width(part, size)

    def _part_width(self, part: Any, size: float) -> float:
        return size * 1.4 if part is _ARROW else self.text_width(part, size)

    def rich_text_width(self, parts: Sequence[tuple[Any, Any]], size: float) -> float:
        return sum(self._part_width(p, size) for p, _ in parts)

    def paste(self, img: Image.Image, x: float, y: float) -> None:
        self.image.paste(img.convert("RGB"), (round(x * self.scale), round(y * self.scale)))

    def finish(self) -> Image.Image:
        if self.scale == 1:
            return self.image
        return self.image.resize((self.width, self.height), self.resample)


def _save(image: Image.Image, path: str | PathLike[str]) -> None:
    with atomic_write(path) as f:
        image.save(f, format="PNG")


# --------------------------------------------------------------------------------------------
# Training curves


def _nice_step(span: float, target: int) -> float:
    raw = span / max(target, 1)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if m * magnitude >= raw * (1 - 1e-9):
            return m * magnitude
    return 10.0 * magnitude


def _ticks(lo: float, hi: float, target: int = 5) -> tuple[float, float, list[float]]:
    """Round tick values covering [lo, hi]; return (axis_lo, axis_hi, ticks)."""
    if not hi > lo:
        pad = abs(lo) * 0.05 or 0.5
        lo, hi = lo - pad, hi + pad
    step = _nice_step(hi - lo, target)
    start = math.floor(lo / step + 1e-9) * step
    stop = math.ceil(hi / step - 1e-9) * step
    ticks = [start + i * step for i in range(round((stop - start) / step) + 1)]
    return start, stop, ticks


def _decimals(ticks: Sequence[float]) -> int:
    """The fewest decimals that tell the ticks apart (0.25 steps need 2, 0.5 steps need 1)."""
    for d in range(7):
        if all(abs(round(t, d) - t) < 1e-9 * max(1.0, abs(t)) for t in ticks):
            return d
    return 6


def _epoch_ticks(first: int, last: int) -> list[int]:
    if last <= first:
        return [first]
    step = next(m * 10**e for e in range(12) for m in (1, 2, 5) if (last - first) / (m * 10**e) <= 8)
    ticks = [t for t in range(step * math.ceil(first / step), last + 1, step)]
    # Show the first epoch too, unless its label would crowd the next one.
    if not ticks or ticks[0] - first >= 0.75 * step:
        ticks.insert(0, first)
    return ticks


@dataclass
class _Axes:
    box: tuple[float, float, float, float]  # plot area (x0, y0, x1, y1), logical pixels
    xlim: tuple[float, float]
    ylim: tuple[float, float]

    def px(self, x: float, y: float) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        fx = (x - self.xlim[0]) / (self.xlim[1] - self.xlim[0])
        fy = (y - self.ylim[0]) / (self.ylim[1] - self.ylim[0])
        return x0 + fx * (x1 - x0), y1 - fy * (y1 - y0)


def _draw_axes(
    canvas: _Canvas, axes: _Axes, xticks: Sequence[float], yticks: Sequence[float], xlabel: str, ylabel: str, title: str
) -> None:
    x0, y0, x1, y1 = axes.box
    ydec = _decimals(yticks)
    for t in yticks:
        _, py = axes.px(axes.xlim[0], t)
        canvas.line([(x0, py), (x1, py)], _GRID)
        canvas.line([(x0 - 5, py), (x0, py)], _FRAME)
        canvas.text(x0 - 8, py, f"{t:.{ydec}f}", _TICK, _MUTED, ha="right", va="center")
    for t in xticks:
        px, _ = axes.px(t, axes.ylim[0])
        canvas.line([(px, y0), (px, y1)], _GRID)
        canvas.line([(px, y1), (px, y1 + 5)], _FRAME)
        canvas.text(px, y1 + 9, f"{t:g}", _TICK, _MUTED, ha="center", va="top")
    canvas.rect((x0, y0, x1 + 1, y1 + 1), outline=_FRAME)
    canvas.text((x0 + x1) / 2, y1 + 32, xlabel, _LABEL, _TEXT, ha="center", va="top")
    widest = max(canvas.text_width(f"{t:.{ydec}f}", _TICK) for t in yticks)
    canvas.vtext(x0 - 8 - widest - 18, (y0 + y1) / 2, ylabel, _LABEL, _TEXT)
    canvas.text((x0 + x1) / 2, y0 - 14, title, _PANEL, _TEXT, ha="center", va="bottom")


def _sample_path(points: Sequence[tuple[float, float]], every: float = 3.0) -> list[tuple[float, float]]:
    """Points along a polyline, ``every`` pixels apart: what a label placed on it would cover."""
    out = list(points[:1])
    for p, q in itertools.pairwise(points):
        n = max(1, int(math.dist(p, q) / every))
        out.extend((p[0] + (q[0] - p[0]) * i / n, p[1] + (q[1] - p[1]) * i / n) for i in range(1, n + 1))
    return out


def _covered(box: Sequence[float], points: Sequence[tuple[float, float]], margin: float = 3.0) -> int:
    x0, y0, x1, y1 = box
    return sum(x0 - margin <= x <= x1 + margin and y0 - margin <= y <= y1 + margin for x, y in points)


def _overlaps(a: Sequence[float], b: Sequence[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _inside(box: Sequence[float], outer: Sequence[float]) -> bool:
    return box[0] >= outer[0] and box[1] >= outer[1] and box[2] <= outer[2] and box[3] <= outer[3]


def _series(canvas: _Canvas, points: Sequence[tuple[float, float]], colour, markers: bool) -> None:
    if len(points) > 1:
        canvas.line(points, colour, width=2.2)
    if markers or len(points) == 1:
        for x, y in points:
            canvas.dot(x, y, 3.0, colour)


def training_curves(history: Sequence[Mapping[str, Any]], path: str | PathLike[str], title: str = "") -> None:
    """Plot cost and accuracy per epoch side by side; write a ~1000x460 PNG to ``path``.

    ``history`` holds one mapping per epoch (``EpochRecord.as_dict()``) with ``epoch``
    (1-based), ``cost``, ``train_accuracy`` and ``test_accuracy`` (the validation accuracy,
    0-1, or None when not measured). The accuracy axis zooms in on the data, up to 100%, and
    the epoch with the best validation accuracy is marked. Raises ValueError on an empty history.
    """
    if not history:
        raise ValueError("history is empty: nothing to plot")
    epochs = [int(r["epoch"]) for r in history]
    cost = [
        (e, float(r["cost"]))
        for e, r in zip(epochs, history, strict=True)
        if r.get("cost") is not None and math.isfinite(float(r["cost"]))
    ]
    train = [
        (e, 100.0 * float(r["train_accuracy"]))
        for e, r in zip(epochs, history, strict=True)
        if r.get("train_accuracy") is not None
    ]
    valid = [
        (e, 100.0 * float(r["test_accuracy"]))
        for e, r in zip(epochs, history, strict=True)
        if r.get("test_accuracy") is not None
    ]

    width, height = 1000, 460
    canvas = _Canvas(width, height)
    top = 40.0
    if title:
        canvas.text(width / 2, 16, title, _TITLE, _TEXT, ha="center", va="top")
        top += 32
    plot_top, plot_bottom = top + 14, height - 62.0

    first, last = min(epochs), max(epochs)
    pad = 0.03 * (last - first) if last > first else 1.0
    xlim = (first - pad, last + pad)
    xticks = _epoch_ticks(first, last)
    markers = len(epochs) <= 40

    # Left panel: cost.
    costs = [c for _, c in cost] or [0.0, 1.0]
    lo, hi, yticks = _ticks(min(0.0, *costs), max(costs), 5)  # from 0, so the fall is seen to scale
    left = _Axes((92, plot_top, 472, plot_bottom), xlim, (lo, hi))
    _draw_axes(canvas, left, xticks, yticks, "epoch", "cost", "cost per epoch")
    _series(canvas, [left.px(e, c) for e, c in cost], _TRAIN, markers)

    # Right panel: accuracy, zoomed so that 98% and 99% are far apart.
    values = [a for _, a in train + valid] or [0.0, 100.0]
    low = min(values)
    lo, hi, yticks = _ticks(max(0.0, low - max(0.5, 0.08 * (100 - low))), max(100.0, max(values)), 6)
    right = _Axes((596, plot_top, 976, plot_bottom), xlim, (lo, hi))
    _draw_axes(canvas, right, xticks, yticks, "epoch", "accuracy (%)", "accuracy (%) per epoch")
    train_px = [right.px(e, a) for e, a in train]
    valid_px = [right.px(e, a) for e, a in valid]
    _series(canvas, train_px, _TRAIN, markers)
    _series(canvas, valid_px, _VALID, markers)
    occupied = _sample_path(train_px) + _sample_path(valid_px)

    label_box = None
    if valid:
        best = max(range(len(valid)), key=lambda i: (valid[i][1], -i))  # the earliest of equals
        bx, by = valid_px[best]
        canvas.dashed_line((bx, by + 7), (bx, right.box[3]), _VALID)
        canvas.dot(bx, by, 5.5, _VALID, outline=_WHITE, width=1.5)
        text = f"best {valid[best][1]:.2f}% (epoch {valid[best][0]})"
        label_box = _best_label(canvas, right, (bx, by), text, occupied)
    entries = [("training", _TRAIN), ("validation", _VALID) if valid else ("no validation data", None)]
    _legend(canvas, right, entries, occupied, avoid=label_box)

    _save(canvas.finish(), path)


def _best_label(
    canvas: _Canvas, axes: _Axes, at: tuple[float, float], text: str, occupied: Sequence[tuple[float, float]]
) -> tuple[float, float, float, float]:
    """Label the best point beside it, where it hides the fewest curve points."""
    size, padding, offset = _TICK, 5.0, 10.0
    w = canvas.text_width(text, size) + 2 * padding
    h = canvas.text_height(size) + 2 * padding
    x, y = at
    candidates = [
        (x - w - offset, y - h - offset),
        (x + offset, y - h - offset),
        (x - w - offset, y + offset),
        (x + offset, y + offset),
        (x - w / 2, y + offset + 4),
        (x - w / 2, y - h - offset - 4),
        (x - w - offset, y - h / 2),
        (x + offset, y - h / 2),
        (x - w - offset, y + 2 * h),
        (x - w / 2, y + 3 * h),
    ]
    inner = (axes.box[0] + 2, axes.box[1] + 2, axes.box[2] - 2, axes.box[3] - 2)

    def score(c: tuple[float, float]) -> tuple[int, int]:
        box = (c[0], c[1], c[0] + w, c[1] + h)
        return (0 if _inside(box, inner) else 1, _covered(box, occupied))

    cx, cy = min(candidates, key=score)
    cx = min(max(cx, inner[0]), inner[2] - w)
    cy = min(max(cy, inner[1]), inner[3] - h)
    box = (cx, cy, cx + w, cy + h)
    canvas.rect(box, fill=_WHITE, outline=_VALID)
    canvas.text(cx + padding, cy + padding, text, size, _TEXT)
    return box


def _legend(
    canvas: _Canvas,
    axes: _Axes,
    entries: Sequence[tuple[str, Any]],
    occupied: Sequence[tuple[float, float]],
    avoid: Sequence[float] | None,
) -> None:
    """Draw the legend in the plot corner where it hides the fewest curve points."""
    size, padding, swatch, row = _TICK, 8.0, 24.0, 22.0
    w = padding * 3 + swatch + max(canvas.text_width(t, size) for t, _ in entries)
    h = padding * 2 + row * len(entries) - (row - canvas.text_height(size))
    x0, y0, x1, y1 = axes.box
    m = 8.0
    corners = [(x1 - m - w, y1 - m - h), (x0 + m, y0 + m), (x1 - m - w, y0 + m), (x0 + m, y1 - m - h)]

    def score(c: tuple[float, float]) -> tuple[bool, int]:
        box = (c[0], c[1], c[0] + w, c[1] + h)
        return (avoid is not None and _overlaps(box, avoid), _covered(box, occupied))

    lx, ly = min(corners, key=score)
    canvas.rect((lx, ly, lx + w, ly + h), fill=_WHITE, outline=_FRAME)
    for i, (text, colour) in enumerate(entries):
        cy = ly + padding + i * row + canvas.text_height(size) / 2
        if colour is not None:
            canvas.line([(lx + padding, cy), (lx + padding + swatch, cy)], colour, width=2.2)
            canvas.dot(lx + padding + swatch / 2, cy, 3.0, colour)
        canvas.text(lx + 2 * padding + swatch, cy, text, size, _TEXT if colour else _MUTED, va="center")


# --------------------------------------------------------------------------------------------
# Confusion matrix


def _ramp(stops: Sequence[tuple[int, int, int]], t: float) -> tuple[int, int, int]:
    t = min(max(t, 0.0), 1.0) * (len(stops) - 1)
    i = min(int(t), len(stops) - 2)
    f = t - i
    a, b = stops[i], stops[i + 1]
    return tuple(round(a[k] + (b[k] - a[k]) * f) for k in range(3))


def _diagonal_colour(f: float) -> tuple[int, int, int]:
    return _ramp(_BLUES, 0.25 + 0.75 * f)


def _error_colour(f: float) -> tuple[int, int, int]:
    # Starts part-way up the ramp so that one error is clearly tinted, not near-white.
    return _ramp(_REDS, 0.12 + 0.88 * f)


def _ink_for(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    r, g, b = colour
    luminance = (0.299 * r + 0.587 * g + 0.114 * b) / 255
    return _TEXT if luminance > 0.6 else _WHITE


def _gradient_key(
    canvas: _Canvas, x: float, y: float, label: str, colour: Callable[[float], Any], lo: str, hi: str, draw: bool = True
) -> float:
    """Draw ``label lo [gradient] hi`` from (x, y); return the x where it ends."""
    size, bar_w, bar_h = _TICK, 100.0, 12.0
    if not draw:
        return x + sum(canvas.text_width(t, size) for t in (label, lo, hi)) + 10 + 6 + bar_w + 6
    x = canvas.text(x, y, label, size, _TEXT, va="center")[2] + 10
    x = canvas.text(x, y, lo, size, _MUTED, va="center")[2] + 6
    for i in range(int(bar_w)):
        canvas.rect((x + i, y - bar_h / 2, x + i + 1, y + bar_h / 2), fill=colour(i / (bar_w - 1)))
    canvas.rect((x, y - bar_h / 2, x + bar_w, y + bar_h / 2), outline=_FAINT)
    return canvas.text(x + bar_w + 6, y, hi, size, _MUTED, va="center")[2]


def confusion_matrix_figure(matrix: ArrayLike, path: str | PathLike[str], title: str = "") -> None:
    """Draw a (k, k) confusion matrix (rows = true label, columns = predicted) as a PNG heat map.

    Each cell shows its count. The diagonal (correct) is coloured blue by count; errors are red
    on their own square-root scale, so a single mistake still shows against ~1000 correct
    answers. Each row ends with its accuracy (recall) in percent.
    """
    counts = np.asarray(matrix)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] == 0:
        raise ValueError(f"matrix must be square (k, k), got shape {counts.shape}")
    if np.any(counts < 0):
        raise ValueError("matrix counts must not be negative")
    counts = counts.astype(np.int64)
    k = counts.shape[0]
    diagonal = np.diag(counts)
    off = counts.copy()
    np.fill_diagonal(off, 0)
    max_diag, max_off = int(diagonal.max()), int(off.max())
    row_totals = counts.sum(axis=1)
    total = int(counts.sum())

    cell = float(max(34, min(56, 560 // k)))
    scratch = _Canvas(1, 1)
    widest = scratch.text_width(str(int(counts.max())), _TICK)
    count_size = _TICK * min(1.0, (cell - 10) / max(widest, 1.0))

    overall = "no examples"
    if total:
        overall = f"overall accuracy {100 * int(diagonal.sum()) / total:.2f}% of {total:,}"
    keys = [("correct", _diagonal_colour, "0", f"{max_diag:,}")]
    if max_off:
        keys.append(("errors (sqrt scale)", _error_colour, "1", f"{max_off:,}"))
    spacing = 30.0
    extent = sum(_gradient_key(scratch, 0, 0, *key, draw=False) + spacing for key in keys) - spacing
    if not max_off:
        extent += spacing + scratch.text_width("no errors", _TICK)

    label_w = max(scratch.text_width(str(t), _TICK) for t in range(k))
    acc_w = 10 + max(scratch.text_width("100.0%", _TICK), scratch.text_width("row acc.", _TICK)) + 8
    grid_x, grid_y = float(math.ceil(10 + label_w + 20 + _LABEL + 22)), 72.0 + (32 if title else 0)
    width = grid_x + k * cell + acc_w + 20
    # A small matrix is narrower than its title or colour key: widen the margins evenly.
    needed = 24 + max(extent, scratch.text_width(title, _TITLE), scratch.text_width(overall, _TICK))
    if needed > width:
        grid_x += math.ceil((needed - width) / 2)
        width = needed
    width, height = math.ceil(width), round(grid_y + k * cell + 106)
    canvas = _Canvas(width, height)

    y = 16.0
    if title:
        canvas.text(width / 2, y, title, _TITLE, _TEXT, ha="center", va="top")
        y += 32
    canvas.text(width / 2, y, overall, _TICK, _MUTED, ha="center", va="top")

    for i in range(k):
        for j in range(k):
            n = int(counts[i, j])
            if i == j:
                colour = _diagonal_colour(n / max_diag) if n else _WHITE
            else:
                colour = _error_colour(math.sqrt(n / max_off)) if n else _WHITE
            box = (grid_x + j * cell, grid_y + i * cell, grid_x + (j + 1) * cell, grid_y + (i + 1) * cell)
            canvas.rect(box, fill=colour)
            ink = _ink_for(colour) if n else _FAINT
            cx, cy = box[0] + cell / 2, box[1] + cell / 2
            canvas.text(cx, cy, str(n), count_size, ink, ha="center", va="center")
    for t in range(k + 1):  # hairlines between cells, so white zero cells still read as a grid
        canvas.line([(grid_x + t * cell, grid_y), (grid_x + t * cell, grid_y + k * cell)], _GRID)
        canvas.line([(grid_x, grid_y + t * cell), (grid_x + k * cell, grid_y + t * cell)], _GRID)
    canvas.rect((grid_x, grid_y, grid_x + k * cell + 1, grid_y + k * cell + 1), outline=_FRAME)

    grid_right, grid_bottom = grid_x + k * cell, grid_y + k * cell
    for t in range(k):
        mid = t * cell + cell / 2
        canvas.text(grid_x - 10, grid_y + mid, str(t), _TICK, _TEXT, ha="right", va="center")
        canvas.text(grid_x + mid, grid_bottom + 10, str(t), _TICK, _TEXT, ha="center", va="top")
        acc = f"{100 * diagonal[t] / row_totals[t]:.1f}%" if row_totals[t] else "n/a"
        canvas.text(grid_right + acc_w - 8, grid_y + mid, acc, _TICK, _TEXT, ha="right", va="center")
    canvas.text(grid_right + acc_w - 8, grid_y - 10, "row acc.", _TICK, _MUTED, ha="right", va="bottom")
    canvas.text(grid_x + k * cell / 2, grid_bottom + 34, "predicted label", _LABEL, _TEXT, ha="center", va="top")
    canvas.vtext(grid_x - 10 - label_w - 20 - _LABEL / 2, grid_y + k * cell / 2, "true label", _LABEL, _TEXT)

    key_y = grid_bottom + 80
    x = max(12.0, min(grid_x + k * cell / 2 - extent / 2, width - 12 - extent))
    for key in keys:
        x = _gradient_key(canvas, x, key_y, *key) + spacing
    if not max_off:
        canvas.text(x, key_y, "no errors", _TICK, _MUTED, va="center")
    _save(canvas.finish(), path)


# --------------------------------------------------------------------------------------------
# Mistakes grid


def _as_uint8_images(images: ArrayLike) -> np.ndarray:
    arr = np.asarray(images)
    if arr.ndim == 2 and arr.shape[0] == 0:
        return np.zeros((0, 28, 28), np.uint8)
    if arr.ndim == 2:  # flattened rows, e.g. (n, 784)
        side = math.isqrt(arr.shape[1])
        if side * side != arr.shape[1]:
            raise ValueError(f"cannot read rows of {arr.shape[1]} pixels as square images")
        arr = arr.reshape(arr.shape[0], side, side)
    if arr.ndim != 3:
        raise ValueError(f"images must have shape (n, height, width), got {arr.shape}")
    if arr.dtype != np.uint8:
        arr = arr.astype(np.float64)
        if arr.size and arr.max() <= 1.0:  # the network's [0, 1] pixel scale
            arr = arr * 255.0
        arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
    return arr


def mistakes_grid(
    images: ArrayLike,
    true_labels: ArrayLike,
    predicted_labels: ArrayLike,
    path: str | PathLike[str],
    columns: int = 10,
    limit: int = 100,
) -> None:
    """Draw up to ``limit`` misread digits, enlarged 3x, in a grid captioned ``true → predicted``.

    ``images`` has shape (n, 28, 28), uint8, white ink on black ((n, 784) rows and floats in
    [0, 1] are accepted too); the label arrays have n entries. With n = 0 the PNG just says
    "no mistakes". The grid has ``min(columns, n)`` columns, so it grows with n up to ``limit``.
    """
    imgs = _as_uint8_images(images)
    true = np.asarray(true_labels).reshape(-1)
    pred = np.asarray(predicted_labels).reshape(-1)
    if not len(imgs) == len(true) == len(pred):
        raise ValueError(f"{len(imgs)} images but {len(true)} true and {len(pred)} predicted labels")
    if columns < 1 or limit < 0:
        raise ValueError("columns must be at least 1 and limit at least 0")

    shown = min(len(imgs), limit)
    if shown == 0:
        canvas = _Canvas(280, 76)
        canvas.text(140, 38, "no mistakes", _TITLE, _MUTED, ha="center", va="center")
        _save(canvas.finish(), path)
        return

    # 3x, not more: ten columns then stay ~950 pixels wide, so a README hardly shrinks the captions.
    zoom, gap, caption = 3, 10, 28
    tile_h, tile_w = imgs.shape[1] * zoom, imgs.shape[2] * zoom
    cols = min(columns, shown)
    rows = math.ceil(shown / cols)
    header, heading_size = 46, 18.0
    what = f"{len(imgs)} mistake{'s' * (len(imgs) != 1)}"
    if shown < len(imgs):
        what = f"first {shown} of {what}"
    heading = [(f"{what}, captioned true", _TEXT), (_ARROW, _MUTED), ("predicted", _ERROR)]
    width = cols * (tile_w + gap) + gap
    height = header + rows * (tile_h + caption + gap) + gap // 2
    # Supersampled so captions are smooth; BOX shrinking keeps the enlarged pixels exact squares.
    canvas = _Canvas(width, height, resample=Image.Resampling.BOX)
    needed = math.ceil(canvas.rich_text_width(heading, heading_size)) + 2 * gap
    if needed > width:  # a grid of one or two digits is narrower than its heading
        width = needed
        canvas = _Canvas(width, height, resample=Image.Resampling.BOX)
    canvas.rich_text(width / 2, header / 2, heading, heading_size)
    left = (width - (cols * (tile_w + gap) - gap)) // 2  # whole pixels: a half-pixel shift would blur
    big = (tile_w * canvas.scale, tile_h * canvas.scale)
    for i in range(shown):
        r, c = divmod(i, cols)
        x = left + c * (tile_w + gap)
        y = header + r * (tile_h + caption + gap)
        canvas.paste(Image.fromarray(imgs[i]).resize(big, Image.Resampling.NEAREST), x, y)
        canvas.rich_text(
            x + tile_w / 2,
            y + tile_h + caption / 2 + 1,
            [(str(true[i]), _TEXT), (_ARROW, _MUTED), (str(pred[i]), _ERROR)],
            _CAPTION,
        )

    _save(canvas.finish(), path)
