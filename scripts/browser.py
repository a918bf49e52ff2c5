"""Driving the drawing page in a real browser as a person does: Debian's Chromium through Playwright,
the screens of a desktop and of phones, digits as strokes, and strokes drawn with a mouse or a finger.

``scripts/screenshots.py`` and ``tests/test_browser.py`` both drive the page this way, so the browser,
the screens and the strokes are written once, here. Nothing here imports from ``tests``.
"""

from __future__ import annotations

import itertools
import math
import time

from playwright.sync_api import Browser, CDPSession, Page, Playwright

from model.shape import SIDE

CHROMIUM = "/usr/bin/chromium"  # Debian's; Playwright never downloads a browser here
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]

# Browser context options (Playwright's new_context) for each kind of screen.
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
TOUCH = {"is_mobile": True, "has_touch": True}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, **TOUCH}
SMALL_PHONE = {"viewport": {"width": 360, "height": 640}, "device_scale_factor": 2, **TOUCH}

Point = tuple[float, float]
Stroke = list[Point]

# Strokes in pad-relative coordinates (0..1 of the pad's side), each a polyline.
ONE: list[Stroke] = [[(0.5, 0.15), (0.5, 0.85)]]
ZERO: list[Stroke] = [
    [(0.5 + 0.22 * math.sin(2 * math.pi * i / 48), 0.5 - 0.34 * math.cos(2 * math.pi * i / 48)) for i in range(49)]
]
SEVEN_BAR: Stroke = [(0.25, 0.18), (0.75, 0.18)]
SEVEN_DIAGONAL: Stroke = [(0.75, 0.18), (0.42, 0.85)]
SEVEN: list[Stroke] = [[*SEVEN_BAR, SEVEN_DIAGONAL[1]]]  # one stroke: the bar, then the diagonal
TWO: list[Stroke] = [
    [(0.28, 0.32), (0.34, 0.2), (0.5, 0.15), (0.66, 0.2), (0.72, 0.32), (0.68, 0.45), (0.5, 0.62), (0.3, 0.82)],
    [(0.3, 0.82), (0.75, 0.82)],
]
DOT: list[Stroke] = [[(0.5, 0.5)]]  # a tap
DIGITS: dict[str, list[Stroke]] = {"1": ONE, "0": ZERO, "7": SEVEN}
NUMBER_ASPECT = 2.0  # the number mode's pad is twice as wide as it is tall (static/style.css)


def placed(strokes: list[Stroke], left: float, *, size: float = 0.8, top: float = 0.1) -> list[Stroke]:
    """``strokes`` drawn on a square pad, shrunk into a square ``size`` of the number pad's height whose
    top-left corner is ``left`` of the pad's width and ``top`` of its height: one digit of a number."""
    return [[(left + x * size / NUMBER_ASPECT, top + y * size) for x, y in stroke] for stroke in strokes]


# "207" on the number mode's pad, each digit in its own place, well apart from the next.
NUMBER: tuple[str, list[Stroke]] = ("207", [*placed(TWO, 0.06), *placed(ZERO, 0.34), *placed(SEVEN, 0.6)])

# Resolves when the CSS transitions running now (the bars growing, a button's colours) have ended.
TRANSITIONS_DONE = """() => Promise.allSettled(
  document.getAnimations().filter((a) => a instanceof CSSTransition).map((a) => a.finished))"""
# Resolves after two animation frames, so that what the page queued for the next frame (a redraw,
# a transition a new style starts) has happened.
NEXT_FRAMES = "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"
# Whether every weight picture of "Inside the network" is decoded, a SIDE x SIDE image (the CSP lets data: images load).
UNIT_PICTURES_LOADED = f"""() => [...document.querySelectorAll("#units img")].every(
  (img) => img.complete && img.naturalWidth === {SIDE} && img.naturalHeight === {SIDE})"""


def launch(playwright: Playwright) -> Browser:
    """Debian's headless Chromium; the caller closes it."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def pad_box(page: Page) -> dict[str, float]:
    """The pad's canvas on the screen: ``x``, ``y``, ``width``, ``height`` in CSS px of the viewport."""
    box = page.locator("#canvas").bounding_box()
    if box is None or box["width"] <= 100:
        raise RuntimeError(f"the pad is not shown at a usable size: {box}")
    return box


def to_viewport(box: dict[str, float], point: Point) -> Point:
    return box["x"] + point[0] * box["width"], box["y"] + point[1] * box["height"]


def mouse_stroke(page: Page, points: Stroke) -> None:
    """One stroke with the mouse: press at the first point, move through the others in small steps."""
    page.locator("#canvas").scroll_into_view_if_needed()
    box = pad_box(page)
    page.mouse.move(*to_viewport(box, points[0]))
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*to_viewport(box, point), steps=6)
    page.mouse.up()


def touch_stroke(page: Page, cdp: CDPSession, points: Stroke) -> None:
    """One stroke with a finger: touchStart, many touchMoves (every ~4 CSS px), touchEnd.

    Sent through the DevTools protocol (``cdp``, the page's session), as a touch screen sends them;
    the page is not scrolled first, as a finger does not scroll it either.
    """
    box = pad_box(page)
    path = [to_viewport(box, p) for p in points]
    x, y = path[0]
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    for (x0, y0), (x1, y1) in itertools.pairwise(path):
        steps = max(1, round(math.hypot(x1 - x0, y1 - y0) / 4))
        for i in range(1, steps + 1):
            t = i / steps
            point = {"x": x0 + (x1 - x0) * t, "y": y0 + (y1 - y0) * t}
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def draw(page: Page, strokes: list[Stroke], cdp: CDPSession | None = None) -> None:
    """Draws ``strokes`` on the pad with the mouse, or with a finger when ``cdp`` is given."""
    for i, stroke in enumerate(strokes):
        if i:
            time.sleep(0.02)
        if cdp is None:
            mouse_stroke(page, stroke)
        else:
            touch_stroke(page, cdp, stroke)
