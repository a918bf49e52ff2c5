"""The drawing page in a real browser: Debian's Chromium, driven by Playwright, against a real gunicorn.

One gunicorn and one browser serve the whole module; every test gets a fresh context and page.
Strokes are drawn as a person would: mouse moves on the desktop viewport, touch events (sent
through the DevTools protocol) on a phone viewport. The tests also save the README screenshots
in docs/.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, CDPSession, Page, expect, sync_playwright

from tests.conftest import drawn_digit
from tests.server import ROOT, Server, gunicorn

CHROMIUM = "/usr/bin/chromium"
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
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True}
ANSWER_TIMEOUT = 10_000  # ms: a prediction, debounce included, on a busy 2-core machine
DOCS = ROOT / "docs"

# Strokes in canvas-relative coordinates (0..1 of the pad's side), each a polyline.
ONE = [[(0.5, 0.15), (0.5, 0.85)]]
ZERO = [[(0.5 + 0.22 * math.sin(2 * math.pi * i / 48), 0.5 - 0.34 * math.cos(2 * math.pi * i / 48)) for i in range(49)]]
SEVEN_BAR = [(0.25, 0.18), (0.75, 0.18)]
SEVEN_DIAGONAL = [(0.75, 0.18), (0.42, 0.85)]
SEVEN = [[*SEVEN_BAR, SEVEN_DIAGONAL[1]]]  # one stroke: the bar, then the diagonal
DIGITS = {"1": ONE, "0": ZERO, "7": SEVEN}

COUNT_INK = """() => {
  const canvas = document.querySelector("#canvas");
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let inked = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) inked += 1;
  return inked;
}"""
# Resolves when the CSS transitions running now (the bars growing) have ended.
TRANSITIONS_DONE = """() => Promise.allSettled(
  document.getAnimations().filter((a) => a instanceof CSSTransition).map((a) => a.finished))"""
# Resolves after two animation frames, so a redraw the page queued with requestAnimationFrame is done.
NEXT_FRAMES = "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"


# -- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with gunicorn(workers=2) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        message = f"{CHROMIUM} not found (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Watch:
    """What went wrong on a page: console errors, page errors, failed requests, 4xx/5xx answers,
    and requests to any host other than the server."""

    origin: str
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    statuses: list[tuple[int, str]] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("console", lambda m: self.console.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("requestfailed", lambda r: self.failed.append(f"{r.method} {r.url}: {r.failure}"))
        page.on("response", lambda r: self.statuses.append((r.status, r.url)) if r.status >= 400 else None)
        page.on("request", self._request)

    def _request(self, request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme not in ("data", "blob") and f"{parts.scheme}://{parts.netloc}" != self.origin:
            self.foreign.append(request.url)

    def problems(self, allow_status: int | None = None) -> list[str]:
        """Everything that went wrong; ``allow_status`` excuses answers with that status, and
        exactly the console line Chrome logs for each of them."""
        console = list(self.console)
        statuses = []
        for status, url in self.statuses:
            if status == allow_status:
                line = f"Failed to load resource: the server responded with a status of {status}"
                match = next((c for c in console if c.startswith(line)), None)
                if match is not None:
                    console.remove(match)
            else:
                statuses.append(f"HTTP {status} {url}")
        return (
            [f"console: {c}" for c in console]
            + [f"page error: {e}" for e in self.errors]
            + [f"request failed: {f}" for f in self.failed]
            + statuses
            + [f"request to another host: {u}" for u in self.foreign]
        )


@dataclass
class Tab:
    context: BrowserContext
    page: Page
    watch: Watch


@pytest.fixture
def open_page(browser: Browser, server: Server) -> Iterator[Callable[..., Tab]]:
    """``open_page(**context_options)``: a fresh context and page on the app, watched; closed after the test."""
    contexts: list[BrowserContext] = []

    def open_(**options) -> Tab:
        context = browser.new_context(**options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(ANSWER_TIMEOUT)
        watch = Watch(origin=server.url)
        watch.attach(page)
        page.goto(server.url + "/", wait_until="load")
        expect(page.locator("html")).to_have_class(re.compile(r"\bjs\b"))  # app.js ran to its end
        return Tab(context, page, watch)

    yield open_
    for context in contexts:
        context.close()


# -- helpers ------------------------------------------------------------------------------------------


def pad_box(page: Page) -> dict[str, float]:
    box = page.locator("#canvas").bounding_box()
    assert box is not None and box["width"] > 100, box
    return box


def to_viewport(box: dict[str, float], point: tuple[float, float]) -> tuple[float, float]:
    return box["x"] + point[0] * box["width"], box["y"] + point[1] * box["height"]


def mouse_stroke(page: Page, points: list[tuple[float, float]]) -> None:
    """One stroke with the mouse: press at the first point, move through the others in small steps."""
    page.locator("#canvas").scroll_into_view_if_needed()
    box = pad_box(page)
    page.mouse.move(*to_viewport(box, points[0]))
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*to_viewport(box, point), steps=6)
    page.mouse.up()


def touch_stroke(page: Page, cdp: CDPSession, points: list[tuple[float, float]]) -> None:
    """One stroke with a finger: touchStart, many touchMoves (every ~4 CSS px), touchEnd."""
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


def draw(page: Page, strokes: list[list[tuple[float, float]]], cdp: CDPSession | None = None) -> None:
    for i, stroke in enumerate(strokes):
        if i:
            time.sleep(0.02)
        if cdp is None:
            mouse_stroke(page, stroke)
        else:
            touch_stroke(page, cdp, stroke)


def ink(page: Page) -> int:
    """How many pixels of the pad's canvas are not transparent, once pending redraws are done."""
    page.evaluate(NEXT_FRAMES)
    return page.evaluate(COUNT_INK)


def expect_answer(page: Page, label: str) -> None:
    """The result shows ``label``: state ok, the digit, ten bars with the winner marked, the 28x28 input."""
    result = page.locator("#result")
    expect(result).to_have_attribute("data-state", "ok", timeout=ANSWER_TIMEOUT)
    expect(page.locator("#result-digit")).to_have_text(label)
    bars = page.locator("#bars > li.bar")
    expect(bars).to_have_count(10)
    expect(page.locator("#bars > li.bar .bar-pct")).to_have_text([re.compile(r"^\d+%$")] * 10)
    expect(page.locator("#bars > li.bar.is-winner")).to_have_count(1)
    expect(page.locator("#bars > li.bar.is-winner")).to_have_attribute("data-digit", label)
    expect(page.locator("#seen")).to_be_visible()
    expect(page.locator("#seen")).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    expect(page.locator("#message")).to_have_attribute("data-kind", "ok")


def expect_cleared(page: Page) -> None:
    """Nothing drawn and nothing answered: an empty pad and an empty result."""
    assert ink(page) == 0
    expect(page.locator("#result")).to_have_attribute("data-state", "empty")
    expect(page.locator("#result-digit")).to_have_text("?")
    expect(page.locator("#bars > li.bar.is-winner")).to_have_count(0)
    expect(page.locator("#bars > li.bar .bar-pct")).to_have_text([""] * 10)
    expect(page.locator("#seen")).to_be_hidden()
    expect(page.locator("#message")).to_have_text("")
    expect(page.locator("#result-model")).to_have_text("")
    expect(page.locator("#undo")).to_have_attribute("aria-disabled", "true")
    expect(page.locator("#clear")).to_have_attribute("aria-disabled", "true")


def save_screenshot(page: Page, name: str) -> None:
    """A viewport screenshot into docs/ once the bars have grown, written atomically."""
    page.evaluate(TRANSITIONS_DONE)
    final = DOCS / name
    temporary = DOCS / f".{name}.{os.getpid()}.tmp"
    temporary.write_bytes(page.screenshot(type="png"))
    os.replace(temporary, final)


def scroll_to_pad(page: Page, margin: int = 24) -> int:
    """Scrolls so that the whole pad is in view, ``margin`` CSS px below the top of the viewport
    (the page is then scrolled down, not at its top); returns window.scrollY."""
    top = page.evaluate("() => document.querySelector('#canvas').getBoundingClientRect().top + window.scrollY")
    page.evaluate(f"() => window.scrollTo(0, {max(0, top - margin)})")
    scroll_y = page.evaluate("() => window.scrollY")
    assert scroll_y > 0, "the pad should be below the top of the page on a phone"
    box = pad_box(page)
    assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE["viewport"]["height"], box
    return scroll_y


# -- tests --------------------------------------------------------------------------------------------


def test_page_loads_cleanly_and_only_talks_to_its_server(open_page):
    tab = open_page(**DESKTOP)
    tab.page.wait_for_load_state("networkidle")
    expect(tab.page.locator("#result")).to_have_attribute("data-state", "empty")
    expect(tab.page.locator("#canvas")).to_be_visible()
    assert tab.watch.problems() == []


def test_mouse_drawn_digits_are_read_on_the_desktop(open_page):
    tab = open_page(**DESKTOP)
    page = tab.page
    for label, strokes in DIGITS.items():
        draw(page, strokes)
        expect_answer(page, label)
        if label == "7":
            save_screenshot(page, "screenshot-desktop.png")
        page.click("#clear")
        expect(page.locator("#result")).to_have_attribute("data-state", "empty")
    assert tab.watch.problems() == []


def test_touch_drawn_digits_are_read_on_a_phone_without_scrolling_the_page(open_page):
    tab = open_page(**PHONE)
    page = tab.page
    cdp = tab.context.new_cdp_session(page)
    scroll_y = scroll_to_pad(page)
    for label, strokes in DIGITS.items():
        draw(page, strokes, cdp)
        assert page.evaluate("() => window.scrollY") == scroll_y, f"the page scrolled while drawing a {label}"
        expect_answer(page, label)
        page.locator("#clear").tap()
        expect(page.locator("#result")).to_have_attribute("data-state", "empty")
        page.evaluate(f"() => window.scrollTo(0, {scroll_y})")  # the answer is below the pad; back to it
    assert tab.watch.problems() == []


def test_phone_screenshot_of_a_touch_drawn_seven(open_page):
    tab = open_page(**{**PHONE, "device_scale_factor": 2})
    page = tab.page
    cdp = tab.context.new_cdp_session(page)
    scroll_to_pad(page, margin=12)
    draw(page, SEVEN, cdp)
    expect_answer(page, "7")
    save_screenshot(page, "screenshot-phone.png")
    assert tab.watch.problems() == []


def test_undo_removes_the_last_stroke(open_page):
    tab = open_page(**DESKTOP)
    page = tab.page
    undo = page.locator("#undo")
    expect(undo).to_have_attribute("aria-disabled", "true")
    draw(page, [SEVEN_BAR])
    expect(page.locator("#result")).to_have_attribute("data-state", "ok", timeout=ANSWER_TIMEOUT)
    bar_only = ink(page)
    draw(page, [SEVEN_DIAGONAL])
    expect_answer(page, "7")
    both = ink(page)
    assert 0 < bar_only < both
    expect(undo).to_have_attribute("aria-disabled", "false")

    undo.click()
    assert ink(page) == bar_only  # exactly the first stroke is left: the pad redraws from its strokes
    expect(page.locator("#result")).to_have_attribute("data-state", "ok", timeout=ANSWER_TIMEOUT)
    undo.click()
    expect_cleared(page)
    assert tab.watch.problems() == []


def test_an_uploaded_image_is_read(open_page, tmp_path: Path):
    tab = open_page(**DESKTOP)
    page = tab.page
    path = tmp_path / "seven.png"
    path.write_bytes(drawn_digit("7"))
    page.set_input_files("#upload", path)
    expect_answer(page, "7")
    expect(page.locator("#file-name")).to_have_text("seven.png")
    assert ink(page) == 0  # the answer is for the file, not for anything on the pad
    assert tab.watch.problems() == []


@pytest.mark.parametrize("how", ["button", "escape"])
def test_clear_empties_the_pad_and_the_result(open_page, how):
    tab = open_page(**DESKTOP)
    page = tab.page
    draw(page, ONE)
    expect_answer(page, "1")
    assert ink(page) > 0
    expect(page.locator("#clear")).to_have_attribute("aria-disabled", "false")
    if how == "button":
        page.click("#clear")
    else:
        page.keyboard.press("Escape")
    expect_cleared(page)
    assert tab.watch.problems() == []


def test_switching_the_model_asks_that_model(open_page):
    tab = open_page(**DESKTOP)
    page = tab.page
    expect(page.locator("#model-digits")).to_be_checked()
    draw(page, ONE)
    expect_answer(page, "1")
    expect(page.locator("#result-model")).to_have_text(re.compile(r"\bdigits\b"))

    with page.expect_response(lambda r: urlsplit(r.url).path == "/predict") as answer:
        page.check("#model-seed")
    response = answer.value
    assert response.ok
    assert parse_qs(urlsplit(response.url).query)["model"] == ["seed"]
    assert json.loads(response.body())["model"] == "seed"
    expect(page.locator("#result-model")).to_have_text(re.compile(r"\bseed\b"))
    expect(page.locator("#result")).to_have_attribute("data-state", "ok")
    assert tab.watch.problems() == []


def test_an_error_answer_shows_a_readable_message(open_page):
    tab = open_page(**DESKTOP)
    page = tab.page
    with page.expect_response(lambda r: urlsplit(r.url).path == "/predict") as answer:
        page.click("#predict")
    assert answer.value.status == 422
    expect(page.locator("#result")).to_have_attribute("data-state", "error", timeout=ANSWER_TIMEOUT)
    message = page.locator("#message")
    expect(message).to_have_attribute("data-kind", "error")
    expect(message).to_have_text(re.compile("no digit", re.IGNORECASE))
    text = message.text_content().strip()
    assert not text.startswith("{") and "error" not in text.lower(), text
    expect(page.locator("#result-digit")).to_have_text("?")
    expect(page.locator("#bars > li.bar.is-winner")).to_have_count(0)
    assert tab.watch.problems(allow_status=422) == []
    assert tab.watch.problems() != []  # the 422 was seen (and excused), not missed
