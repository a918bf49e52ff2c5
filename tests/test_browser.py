"""The drawing page in a real browser: Debian's Chromium, driven by Playwright, against a real gunicorn.

One gunicorn and one browser serve the whole module; every test gets a fresh context and page.
Strokes are drawn as a person would (``scripts/browser.py``): mouse moves on the desktop viewport,
touch events (sent through the DevTools protocol) on phone viewports. The server stores feedback in
a temporary SQLite file, which the feedback tests read. Nothing is written outside temporary
folders: the README's screenshots come from ``python scripts/screenshots.py``.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import (
    Browser,
    BrowserContext,
    CDPSession,
    Page,
    Response,
    Route,
    expect,
    sync_playwright,
)

from model.shape import SIDE
from scripts.browser import (
    CHROMIUM,
    DESKTOP,
    DIGITS,
    DOT,
    NEXT_FRAMES,
    NUMBER,
    ONE,
    PHONE,
    SEVEN,
    SEVEN_BAR,
    SEVEN_DIAGONAL,
    SMALL_PHONE,
    TRANSITIONS_DONE,
    UNIT_PICTURES_LOADED,
    Stroke,
    draw,
    launch,
    pad_box,
    to_viewport,
)
from tests.support.canvas import drawn_digit
from tests.support.canvas import strokes as upright_strokes
from tests.support.server import Server, gunicorn

ANSWER_TIMEOUT = 10_000  # ms: a prediction, debounce included, on a busy 2-core machine
SECRET_KEY = "browser-test-secret-key"
NOTICE = (
    "Answering stores the 28x28 image the network saw, your digit, its guess, the model and the time "
    "(nothing about you) to retrain it."
)

COUNT_INK = """() => {
  const canvas = document.querySelector("#canvas");
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let inked = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) inked += 1;
  return inked;
}"""
# Each activation strip's brightest cell (0-255): the layer's most active unit is drawn white.
STRIP_BRIGHTEST = """() => [...document.querySelectorAll("#explain-layers canvas.strip")].map((strip) => {
  const data = strip.getContext("2d").getImageData(0, 0, strip.width, strip.height).data;
  let brightest = 0;
  for (let i = 0; i < data.length; i += 4) brightest = Math.max(brightest, Math.min(data[i], data[i + 1], data[i + 2]));
  return brightest;
})"""

# -- fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def feedback_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SQLite file the module's server stores feedback in (created on the first answer)."""
    return tmp_path_factory.mktemp("feedback") / "feedback.sqlite"


@pytest.fixture(scope="module")
def server(feedback_db: Path) -> Iterator[Server]:
    env = {"DIGITS_FEEDBACK_DB": str(feedback_db), "DIGITS_SECRET_KEY": SECRET_KEY}
    with gunicorn(env=env, workers=2) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        message = f"{CHROMIUM} not found (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as p:
        chromium = launch(p)
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
    """``open_page(**context_options)``: a fresh context and page on the app, watched; closed after the test.
    ``open_page(url, ...)`` opens another server's page."""
    contexts: list[BrowserContext] = []

    def open_(url: str | None = None, **options) -> Tab:
        """``url``: another server's, instead of the module's."""
        origin = url or server.url
        context = browser.new_context(**options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(ANSWER_TIMEOUT)
        watch = Watch(origin=origin)
        watch.attach(page)
        page.goto(origin + "/", wait_until="load")
        expect(page.locator("html")).to_have_class(re.compile(r"\bjs\b"))  # main.js ran to its end
        return Tab(context, page, watch)

    yield open_
    for context in contexts:
        context.close()


# -- helpers ------------------------------------------------------------------------------------------


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
    expect(page.locator("#feedback")).to_be_hidden()
    expect(page.locator("#explain")).to_have_attribute("data-state", "empty")
    expect(page.locator("#explain-layers > *")).to_have_count(0)
    expect(page.locator("#units > li")).to_have_count(0)
    expect(page.locator("#explain-empty:not([hidden])")).to_have_count(1)  # said once the panel is open
    expect(page.locator(".digit-box")).to_have_count(0)


def expect_explained(page: Page, answer: dict) -> None:
    """The "Inside the network" panel shows ``answer`` (an /api/explain answer): one labelled strip
    of cells per hidden layer, and the first hidden layer's units as weight pictures."""
    panel = page.locator("#explain")
    expect(panel).to_have_attribute("data-state", "ok", timeout=ANSWER_TIMEOUT)
    expect(panel).to_have_attribute("aria-busy", "false")
    layers = answer["layers"]
    strips = page.locator("#explain-layers canvas.strip")
    expect(strips).to_have_count(len(layers))
    names = {"relu": "ReLU"}
    titles = [
        f"Hidden layer {layer['index']} · {layer['size']} units ({names.get(layer['activation'], layer['activation'])})"
        for layer in layers
    ]
    expect(page.locator("#explain-layers .layer-title")).to_have_text(titles)
    for i, layer in enumerate(layers):
        assert len(layer["values"]) == layer["size"]
        expect(strips.nth(i)).to_have_attribute("data-units", str(layer["size"]))
        expect(strips.nth(i)).to_have_attribute("role", "img")
        expect(strips.nth(i)).to_have_attribute("aria-label", re.compile(rf"^Activations of the {layer['size']} units"))
        expect(strips.nth(i)).to_be_visible()
    assert all(b == 255 for b in page.evaluate(STRIP_BRIGHTEST)), "each strip shows its most active unit in white"

    units = answer["units"]
    shown, of = units["shown"], units["of"]
    items = page.locator("#units > li.unit")
    expect(items).to_have_count(shown)
    assert len(units["items"]) == shown
    heading = page.locator("#units-heading")
    if shown < of:
        expect(heading).to_have_text(re.compile(rf"^The {shown} most active of {of} units in the first hidden layer: "))
    else:
        expect(heading).to_have_text(re.compile(rf"^All {of} units in the first hidden layer"))
    expect(heading).to_contain_text("orange: ink here excites it, blue: ink here inhibits it")
    # Most active first, as the answer orders them; each picture says which unit and how active.
    alts = [img.get_attribute("alt") for img in page.locator("#units img").all()]
    for alt, item in zip(alts, units["items"], strict=True):
        match = re.fullmatch(rf"unit {item['unit']}, activation (\d+(?:\.\d+)?)", alt)
        assert match, (alt, item["unit"])
        assert float(match[1]) == pytest.approx(item["activation"], abs=0.051), (alt, item["activation"])
    expect(page.locator("#units img").first).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    page.wait_for_function(UNIT_PICTURES_LOADED)
    expect(page.locator("#units > li.unit.is-top").first).to_be_visible()  # the most active one at least


def is_path(path: str) -> Callable[[Any], bool]:
    """A predicate on requests or responses: their URL's path is ``path``."""
    return lambda r: urlsplit(r.url).path == path


def answer_to_drawing(page: Page, strokes: list[Stroke], path: str, cdp: CDPSession | None = None) -> Response:
    """Draws ``strokes`` (as ``draw`` does) and returns the first response from ``path`` that follows.

    The wait for it, ANSWER_TIMEOUT, starts when the last stroke ends: drawing itself takes seconds
    in headless Chromium (every mouse move waits for a frame; a three-digit number takes ~10 s), so
    ``expect_response`` around ``draw`` would count the drawing against the answer.
    """
    answers: list[Response] = []
    matches = is_path(path)

    def seen(response: Response) -> None:
        if matches(response):
            answers.append(response)

    page.on("response", seen)
    try:
        draw(page, strokes, cdp)
        deadline = time.monotonic() + ANSWER_TIMEOUT / 1000
        while not answers and time.monotonic() < deadline:
            page.wait_for_timeout(50)  # lets Playwright deliver the page's events meanwhile
    finally:
        page.remove_listener("response", seen)
    assert answers, f"no answer from {path} within {ANSWER_TIMEOUT} ms of the last stroke"
    return answers[0]


def expect_feedback_offered(page: Page, label: str) -> None:
    """The feedback row for an answer ``label``: "Yes, it's a 7" and ten labelled digits, all enabled."""
    expect(page.locator("#feedback")).to_be_visible()
    expect(page.locator("#feedback-yes")).to_have_text(f"Yes, it's a {label}")
    digits = page.locator("#feedback .feedback-digit")
    expect(digits).to_have_text([str(d) for d in range(10)])
    for d in range(10):
        expect(digits.nth(d)).to_have_attribute("aria-label", f"It's a {d}")
    expect(page.get_by_role("group", name="No, it's:")).to_be_visible()
    expect(page.locator("#feedback button[aria-disabled='false']")).to_have_count(11)
    expect(page.locator("#feedback-status")).to_have_text("")


def stored_row(database: Path, row: int) -> tuple[int, int, str, bytes]:
    """``(label, prediction, model, pixels)`` of the feedback row ``row``."""
    with contextlib.closing(sqlite3.connect(database)) as connection:
        found = connection.execute(
            "SELECT label, prediction, model, pixels FROM samples WHERE id = ?", (row,)
        ).fetchone()
    assert found is not None, f"no row {row} in {database}"
    return found


def scroll_to_pad(page: Page, margin: int = 24) -> int:
    """Scrolls so that the whole pad is in view, ``margin`` CSS px below the top of the viewport
    (the page is then scrolled down, not at its top); returns window.scrollY."""
    top = page.evaluate("() => document.querySelector('#canvas').getBoundingClientRect().top + window.scrollY")
    page.evaluate(f"() => window.scrollTo(0, {max(0, top - margin)})")
    scroll_y = page.evaluate("() => window.scrollY")
    assert scroll_y > 0, "the pad should be below the top of the page on a phone"
    box = pad_box(page)
    assert box["y"] >= 0 and box["y"] + box["height"] <= page.viewport_size["height"], box
    return scroll_y


def expect_in_view(page: Page, selector: str) -> None:
    """The whole box of ``selector`` lies inside the viewport (as the page is scrolled now)."""
    box = page.locator(selector).bounding_box()
    size = page.viewport_size
    assert box is not None, f"{selector} is not shown"
    inside = box["x"] >= 0 and box["y"] >= 0
    inside = inside and box["x"] + box["width"] <= size["width"] and box["y"] + box["height"] <= size["height"]
    assert inside, f"{selector} at {box} is not inside the {size['width']}x{size['height']} viewport"


def expect_quick_answer(page: Page, label: str) -> None:
    """The line above the pad says what the card says (the digit and its confidence), and is in view."""
    quick = page.locator("#quick")
    expect(quick).to_have_attribute("data-state", "ok")
    expect(page.locator("#quick-digit")).to_have_text(label)
    expect(page.locator("#quick-confidence")).to_have_text(page.locator("#confidence").text_content())
    expect(page.locator("#quick-confidence")).to_have_text(re.compile(r"^\d+% confident$"))
    for part in ("#quick", "#quick-digit", "#quick-confidence"):
        expect_in_view(page, part)


# -- colours --------------------------------------------------------------------------------------------

# What a person can click or tap, when it is shown.
CONTROLS = "button, a[href], label, select, summary, [role='button']"
# ``(control, focus)``: first the focus ("focus" the control, or the input of a label; "blur" it; or
# "keep" it), then, once the transitions the new state starts have ended, each text of the control (the
# element and its descendants with text of their own, when rendered) with the two colours a person sees
# there: the text's and its background's. Each is painted over the backgrounds of the element's
# ancestors as the browser composites them, translucent colours and opacity included, on the white of
# the canvas; so an opacity or a missing background cannot hide.
SEEN_COLOURS = (
    f"""async (control, focus) => {{
  if (focus === "focus") (control.control || control).focus();
  if (focus === "blur" && document.activeElement) document.activeElement.blur();
  await ({NEXT_FRAMES})();
  await ({TRANSITIONS_DONE})();
"""
    + """
  const rgba = (css) => {
    const m = /^rgba?\\(([^)]*)\\)$/.exec(css);
    if (!m) throw new Error(`a colour this test cannot read: ${css}`);
    const [r, g, b, a = 1] = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return [r, g, b, a];
  };
  const over = ([r, g, b, a], below) => [r, g, b].map((v, i) => v * a + below[i] * (1 - a));
  const mix = (from, to, t) => from.map((v, i) => v + (to[i] - v) * t);
  const seen = (element, withText) => {
    const chain = [];
    for (let e = element; e; e = e.parentElement) chain.unshift(e);
    const paint = (i, backdrop) => {
      const style = getComputedStyle(chain[i]);
      let inside = over(rgba(style.backgroundColor), backdrop);
      if (i + 1 < chain.length) inside = paint(i + 1, inside);
      else if (withText) inside = over(rgba(style.color), inside);
      return mix(backdrop, inside, Number(style.opacity)); // opacity fades the element and all inside it
    };
    return paint(0, [255, 255, 255]);
  };
  const owns = (e) => [...e.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
  const rendered = (e) => e.checkVisibility() && e.getBoundingClientRect().width > 1;
  return [control, ...control.querySelectorAll("*")].filter((e) => owns(e) && rendered(e)).map((e) => ({
    text: e.textContent.trim(),
    colour: seen(e, true),
    background: seen(e, false),
  }));
}"""
)
MIN_CONTRAST = 4.5  # WCAG's floor for text of normal size; the buttons' 15 px bold text is not "large"
NEUTRAL = (4, 4)  # a point of the viewport over the page's background, far from any control


def luminance(rgb: list[float]) -> float:
    """WCAG's relative luminance of an sRGB colour given as three 0-255 channels."""
    linear = [c / 255 / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: list[float], b: list[float]) -> float:
    """WCAG's contrast ratio of two colours, from 1 (the same) to 21 (black on white)."""
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def low_contrast_in_each_state(page: Page, situation: str) -> list[str]:
    """Every text of every control shown whose colour is too close to its background's, in each state a
    person can put the control in: at rest, hovered (mouse over it), focused, and pressed (mouse down;
    the button is let go away from the control, so that nothing is clicked). The disabled states are the
    ones the page is in: ``situation`` says which, for the report."""
    found = []
    for control in [c for c in page.locator(CONTROLS).all() if c.is_visible()]:
        name = control.evaluate("(e) => e.id || e.getAttribute('for') || e.textContent.trim()")
        disabled = control.get_attribute("aria-disabled") == "true"
        control.scroll_into_view_if_needed()
        box = control.bounding_box()
        centre = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        # (state, where the mouse is, whether its button is down, the focus)
        for state, mouse, down, focus in (
            ("at rest", NEUTRAL, False, "blur"),
            ("hovered", centre, False, "blur"),
            ("focused", NEUTRAL, False, "focus"),
            ("pressed", centre, True, "keep"),  # pressing focuses a button, as it does for a person
        ):
            page.mouse.move(*mouse)
            if down:
                page.mouse.down()
            texts = control.evaluate(SEEN_COLOURS, focus)
            if down:
                page.mouse.move(*NEUTRAL)
                page.mouse.up()
            assert texts, f"{name}: no text found"
            for text in texts:
                ratio = contrast(text["colour"], text["background"])
                if ratio < MIN_CONTRAST:
                    rgb = [f"rgb({', '.join(str(round(c)) for c in text[k])})" for k in ("colour", "background")]
                    where = f"{situation}, {name}{' (disabled)' if disabled else ''} {state}"
                    found.append(f"{where}: {text['text']!r} {rgb[0]} on {rgb[1]} is {ratio:.2f}:1")
    page.mouse.move(*NEUTRAL)
    return found


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
        expect(page.locator("#quick")).to_be_hidden()  # the card beside the pad says it
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
        expect_quick_answer(page, label)
        page.locator("#clear").tap()
        expect(page.locator("#result")).to_have_attribute("data-state", "empty")
        assert page.evaluate("() => window.scrollY") == scroll_y
    assert tab.watch.problems() == []


@pytest.mark.parametrize("screen", [PHONE, SMALL_PHONE], ids=["390x844", "360x640"])
def test_on_a_phone_the_answer_is_in_view_after_a_stroke(open_page, screen):
    tab = open_page(**screen)
    page = tab.page
    cdp = tab.context.new_cdp_session(page)
    assert page.evaluate("() => window.scrollY") == 0
    expect(page.locator("#quick")).to_have_attribute("data-state", "empty")
    expect(page.locator("#quick-confidence")).to_have_text("Nothing drawn yet")
    expect(page.locator("#quick-more")).to_be_hidden()
    expect_in_view(page, "#canvas")  # the page as it opens: the pad and the line above it, no scrolling
    expect_in_view(page, "#quick")

    draw(page, SEVEN, cdp)
    expect_answer(page, "7")
    assert page.evaluate("() => window.scrollY") == 0
    expect_quick_answer(page, "7")
    expect(page.locator("#quick-more")).to_be_visible()
    expect(page.locator("#quick-more")).to_have_attribute("href", "#result")

    # Scrolled until the pad's top is at the top of the screen, past the line's own place: the line stays
    # in view, over the top of the pad, and a stroke started under it still draws.
    page.keyboard.press("Escape")
    expect(page.locator("#quick")).to_have_attribute("data-state", "empty")
    page.evaluate("() => window.scrollTo(0, document.querySelector('#canvas').getBoundingClientRect().top + scrollY)")
    scroll_y = page.evaluate("() => window.scrollY")
    assert abs(pad_box(page)["y"]) < 1
    quick = page.locator("#quick").bounding_box()
    assert quick["y"] + quick["height"] > pad_box(page)["height"] * ONE[0][0][1], "the stroke should start under it"
    draw(page, ONE, cdp)
    expect_answer(page, "1")
    assert page.evaluate("() => window.scrollY") == scroll_y
    expect_quick_answer(page, "1")
    assert tab.watch.problems() == []


@pytest.mark.parametrize("screen", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_every_controls_text_stands_out_from_its_background_in_every_state(open_page, screen):
    tab = open_page(**screen)
    page = tab.page
    feedback: list[str] = []
    page.on("request", lambda r: feedback.append(r.url) if urlsplit(r.url).path == "/api/feedback" else None)
    found = low_contrast_in_each_state(page, "nothing drawn")  # Undo and Clear disabled

    page.locator("#canvas").scroll_into_view_if_needed()  # the sweep scrolled to each control in turn
    draw(page, SEVEN, tab.context.new_cdp_session(page) if screen.get("has_touch") else None)
    expect_answer(page, "7")
    expect_feedback_offered(page, "7")
    found += low_contrast_in_each_state(page, "read as 7")

    with page.expect_response(is_path("/api/feedback")) as stored:
        page.click("#feedback-yes")
    assert stored.value.status == 201
    expect(page.locator("#feedback-status")).to_have_text("Thanks: stored as a 7.")
    expect(page.locator("#feedback-yes")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#feedback button[aria-disabled='true']")).to_have_count(11)
    found += low_contrast_in_each_state(page, "answer stored")  # the row disabled, "Yes" pressed

    assert not found, "text too close to its background:\n" + "\n".join(found)
    # Pressing and letting go elsewhere clicked nothing: the same drawing, model and one stored answer.
    assert len(feedback) == 1, feedback
    expect(page.locator("#result")).to_have_attribute("data-state", "ok")
    expect(page.locator("#model-digits")).to_be_checked()
    assert tab.watch.problems() == []


def test_the_colour_check_sees_what_a_person_sees(open_page):
    """The check above fails where a person could not read a control: white on white, and text faded by
    an opacity (here the old disabled look, half transparent) however dark its own colour is."""
    page = open_page(**DESKTOP).page
    page.evaluate("() => { document.querySelector('#predict').style.setProperty('background', '#fff', 'important') }")
    page.evaluate("() => { document.querySelector('#undo').style.opacity = '0.3' }")
    found = low_contrast_in_each_state(page, "altered")
    assert {f.split(": ", 1)[0] for f in found} >= {
        f"altered, predict {state}" for state in ("at rest", "hovered", "focused", "pressed")
    } | {f"altered, undo (disabled) {state}" for state in ("at rest", "hovered", "focused", "pressed")}
    assert all(f.startswith(("altered, predict ", "altered, undo ")) for f in found), found


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


# Keeps a copy of each image file the page posts in a form (Chromium does not give Playwright the
# body of a multipart request whose part is a Blob): window.sentImages, as base64, in order.
RECORD_SENT_IMAGES = """() => {
  window.sentImages = [];
  const fetch = window.fetch;
  window.fetch = (url, init) => {
    const image = init && init.body instanceof FormData ? init.body.get("image") : null;
    if (image instanceof Blob) {
      const copy = new Promise((done) => {
        const reader = new FileReader();
        const data = () => reader.result.split(",")[1];
        reader.onload = () => done({ url: String(url), name: image.name, type: image.type, data: data() });
        reader.readAsDataURL(image);
      });
      window.sentImages.push(copy);
    }
    return fetch(url, init);
  };
}"""


def sent_images(page: Page) -> list[dict[str, Any]]:
    """What the page posted as the image of a form, in order: ``url``, ``name``, ``type`` and ``data`` (bytes)."""
    found = page.evaluate("() => Promise.all(window.sentImages)")
    return [{**f, "data": base64.b64decode(f["data"])} for f in found]


def photo_of(digit: str, size: tuple[int, int], seed: int) -> Image.Image:
    """A ``size`` photo-sized picture of ``digit`` (drawn_digit's), a third of its height, on paper
    with sensor-like noise (seeded), so that it is as heavy as a phone's photo."""
    width, height = size
    side = height // 2
    paper = np.full((height, width), 235, dtype=np.uint8)
    digit_image = Image.open(io.BytesIO(drawn_digit(digit, size=side))).convert("L")
    top, left = (height - side) // 2, (width - side) // 2
    paper[top : top + side, left : left + side] = np.minimum(paper[top : top + side, left : left + side], digit_image)
    noise = np.random.default_rng(seed).normal(0, 6, paper.shape)
    return Image.fromarray(np.clip(paper + noise, 0, 255).astype(np.uint8)).convert("RGB")


def test_a_large_photo_is_scaled_down_before_it_is_sent(open_page, tmp_path: Path):
    tab = open_page(**DESKTOP)
    page = tab.page
    path = tmp_path / "photo.jpg"
    photo_of("7", (3000, 2000), seed=12).save(path, format="JPEG", quality=92)
    original = path.stat().st_size
    assert original > 1_500_000, original  # as heavy as a phone's photo
    page.add_init_script(script=f"({RECORD_SENT_IMAGES})()")
    page.reload(wait_until="load")
    with page.expect_response(is_path("/predict")) as answer:
        page.set_input_files("#upload", path)
    assert answer.value.status == 200
    expect_answer(page, "7")
    expect(page.locator("#file-name")).to_have_text("photo.jpg")
    [sent] = sent_images(page)
    assert urlsplit(sent["url"]).path == "/predict"
    assert (sent["name"], sent["type"]) == ("photo.jpg", "image/jpeg")
    assert len(sent["data"]) < original / 5, (len(sent["data"]), original)
    with Image.open(io.BytesIO(sent["data"])) as image:
        assert image.format == "JPEG"
        assert image.size == (1024, 683)  # the longer side 1024 px, the shape kept

    # A small file is sent as it is, byte for byte.
    small = tmp_path / "seven.png"
    small.write_bytes(drawn_digit("7"))
    with page.expect_response(is_path("/predict")):
        page.set_input_files("#upload", small)
    expect_answer(page, "7")
    expect(page.locator("#file-name")).to_have_text("seven.png")
    sent = sent_images(page)
    assert len(sent) == 2 and sent[1]["name"] == "seven.png"
    assert sent[1]["data"] == small.read_bytes()
    assert tab.watch.problems() == []


def switch_to_number_mode(page: Page, touch: bool) -> None:
    """Picks "Number" in the mode switch, as a finger or the mouse does, and checks the page follows."""
    label = page.locator("label[for='mode-number']")
    if touch:
        label.tap()
    else:
        label.click()
    expect(page.locator("#mode-number")).to_be_checked()
    expect(page.locator("#app")).to_have_attribute("data-mode", "number")
    assert urlsplit(page.url).fragment == "number"


def boxes_on_screen(page: Page) -> list[dict[str, Any]]:
    """The digit boxes shown over the pad: their labels and viewport boxes, left to right."""
    boxes = page.locator(".digit-box")
    return [{"label": b.get_attribute("data-label"), **b.bounding_box()} for b in boxes.all()]


def contains(box: dict[str, float], point: tuple[float, float]) -> bool:
    x, y = point
    return box["x"] <= x <= box["x"] + box["width"] and box["y"] <= y <= box["y"] + box["height"]


def expect_number(page: Page, text: str) -> None:
    """The card and the line above the pad show the number ``text``, each digit with its confidence,
    and a sentence that lists them."""
    expect(page.locator("#result")).to_have_attribute("data-state", "ok", timeout=ANSWER_TIMEOUT)
    expect(page.locator("#result-digit")).to_have_text(text)
    expect(page.locator("#quick-digit")).to_have_text(text)
    expect(page.locator("#quick")).to_be_visible()  # above the wide pad, on a desktop too
    count = len(text)
    expect(page.locator("#confidence")).to_have_text(
        re.compile(rf"^{count} digits, each (at least \d+|100)% confident$")
    )
    digits = page.locator("#number-digits > li")
    expect(digits).to_have_count(count)
    expect(page.locator("#number-digits .number-digit-label")).to_have_text(list(text))
    expect(page.locator("#number-digits .number-digit-pct")).to_have_text([re.compile(r"^\d+%$")] * count)
    each = r", ".join(rf"{d} \(\d+%\)" for d in text)
    expect(page.locator("#message")).to_have_text(
        re.compile(rf"^Read as {text}: {count} digits, left to right {each}\.$")
    )
    # Single-digit parts are out of the way, and say so.
    expect(page.locator("#bars")).to_be_hidden()
    expect(page.locator(".seen-figure")).to_be_hidden()
    expect(page.locator("#feedback")).to_be_hidden()
    expect(page.locator("#explain-toggle")).to_have_attribute("aria-disabled", "true")
    expect(page.locator("#explain-unavailable")).to_be_visible()


@pytest.mark.parametrize("screen", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_number_mode_reads_a_whole_number_and_boxes_each_digit(open_page, screen):
    tab = open_page(**screen)
    page = tab.page
    touch = bool(screen.get("has_touch"))
    cdp = tab.context.new_cdp_session(page) if touch else None
    sent = readings(page)
    square = pad_box(page)
    switch_to_number_mode(page, touch)
    page.evaluate(NEXT_FRAMES)
    wide = pad_box(page)
    assert wide["width"] / wide["height"] == pytest.approx(2, abs=0.02)
    viewport = page.viewport_size["width"]
    if touch:
        assert wide["width"] >= viewport - 70, (wide, viewport)  # as wide as the phone's screen, but margins
    else:
        assert wide["width"] > 1.8 * square["width"], (wide, square)
    if touch:
        page.locator("#canvas").scroll_into_view_if_needed()

    text, number_strokes = NUMBER
    answer = answer_to_drawing(page, number_strokes, "/api/read", cdp)
    assert answer.status == 200
    expect_number(page, text)
    read = json.loads(answer.body())
    assert read["text"] == text and [d["label"] for d in read["digits"]] == [int(d) for d in text]

    # One box per digit, labelled, over the strokes of that digit, inside the pad.
    page.evaluate(NEXT_FRAMES)
    boxes = boxes_on_screen(page)
    assert [b["label"] for b in boxes] == list(text)
    pad = pad_box(page)
    digit_strokes = [number_strokes[0:2], number_strokes[2:3], number_strokes[3:4]]  # TWO has two strokes
    for box, digit in zip(boxes, digit_strokes, strict=True):
        assert pad["x"] - 1 <= box["x"] and box["x"] + box["width"] <= pad["x"] + pad["width"] + 1, (box, pad)
        assert pad["y"] - 1 <= box["y"] and box["y"] + box["height"] <= pad["y"] + pad["height"] + 1, (box, pad)
        xs = [x for stroke in digit for x, _ in stroke]
        ys = [y for stroke in digit for _, y in stroke]
        centre = to_viewport(pad, ((min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2))
        assert contains(box, centre), (box, centre)
    expect(page.locator(".digit-box-label")).to_have_text(list(text))
    assert sent == ["/api/read?model=digits"]  # one request for the drawing, and no /predict

    # Another model reads the same drawing: one request again, the boxes drawn anew.
    with page.expect_response(is_path("/api/read")):
        if touch:
            page.locator("label[for='model-seed']").tap()
        else:
            page.check("#model-seed")
    expect(page.locator("#result-model")).to_have_text(re.compile(r"\bseed\b"))
    expect(page.locator(".digit-box")).not_to_have_count(0)
    assert sent == ["/api/read?model=digits", "/api/read?model=seed"]
    assert tab.watch.problems() == []


def test_the_mode_switch_works_from_the_keyboard_and_is_remembered(open_page, server):
    tab = open_page(**DESKTOP)
    page = tab.page
    expect(page.locator("#app")).to_have_attribute("data-mode", "digit")
    expect(page.get_by_role("radio", name="Digit", exact=True)).to_be_checked()
    page.get_by_role("radio", name="Digit", exact=True).focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("radio", name="Number", exact=True)).to_be_checked()
    expect(page.locator("#app")).to_have_attribute("data-mode", "number")
    expect(page.locator("#pad-hint")).to_have_text(re.compile("Write a number here"))

    # An empty pad is answered as /predict's errors are.
    with page.expect_response(is_path("/api/read")) as answer:
        page.click("#predict")
    assert answer.value.status == 422
    assert json.loads(answer.value.body())["error"]["code"] == "no_digit"
    expect(page.locator("#result")).to_have_attribute("data-state", "error")
    expect(page.locator("#message")).to_have_attribute("data-kind", "error")
    expect(page.locator("#message")).to_have_text(re.compile(r"Write a number on the pad, its digits side by side\.$"))

    # The choice survives a reload (localStorage) and the address opens either mode.
    page.reload(wait_until="load")
    expect(page.locator("#app")).to_have_attribute("data-mode", "number")
    page.goto(server.url + "/#digit", wait_until="load")
    expect(page.locator("#app")).to_have_attribute("data-mode", "digit")
    expect(page.get_by_role("radio", name="Digit", exact=True)).to_be_checked()
    assert tab.watch.problems(allow_status=422) == []


def test_number_mode_reads_an_uploaded_number_and_boxes_it_over_the_preview(open_page, tmp_path: Path):
    tab = open_page(**DESKTOP)
    page = tab.page
    switch_to_number_mode(page, touch=False)
    digits = [Image.open(io.BytesIO(drawn_digit(d, size=280))).convert("L") for d in "170"]
    sheet = Image.new("L", (3 * 280 + 120, 400), 255)
    for i, digit in enumerate(digits):
        sheet.paste(digit, (60 + i * 280, 60))
    path = tmp_path / "number.png"
    sheet.save(path)
    with page.expect_response(is_path("/api/read")) as answer:
        page.set_input_files("#upload", path)
    assert answer.value.status == 200
    expect_number(page, "170")
    expect(page.locator("#file-name")).to_have_text("number.png")
    page.evaluate(NEXT_FRAMES)
    preview = page.locator("#file-preview").bounding_box()
    boxes = boxes_on_screen(page)
    assert [b["label"] for b in boxes] == ["1", "7", "0"]
    # The preview shows the whole sheet (object-fit: contain), so each digit's box is where it is on the sheet.
    scale = min(preview["width"] / sheet.width, preview["height"] / sheet.height)
    left = preview["x"] + (preview["width"] - sheet.width * scale) / 2
    top = preview["y"] + (preview["height"] - sheet.height * scale) / 2
    for i, box in enumerate(boxes):
        centre = (left + (60 + i * 280 + 140) * scale, top + (60 + 140) * scale)
        assert contains(box, centre), (box, centre)

    # Too many digits are refused, as /predict's errors are shown.
    many = tmp_path / "many.png"
    many.write_bytes(upright_strokes(13))
    with page.expect_response(is_path("/api/read")) as answer:
        page.set_input_files("#upload", many)
    assert answer.value.status == 422
    assert json.loads(answer.value.body())["error"]["code"] == "too_many_digits"
    expect(page.locator("#result")).to_have_attribute("data-state", "error")
    expect(page.locator("#message")).to_have_attribute("data-kind", "error")
    expect(page.locator(".digit-box")).to_have_count(0)
    assert tab.watch.problems(allow_status=422) == []


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


def test_a_tap_is_answered_as_a_dot_not_a_digit(open_page):
    tab = open_page(**PHONE)
    page = tab.page
    answer = answer_to_drawing(page, DOT, "/predict", tab.context.new_cdp_session(page))
    assert answer.status == 422
    assert json.loads(answer.body())["error"]["code"] == "no_digit"
    assert ink(page) > 0  # the tap is drawn, as a dot
    expect(page.locator("#result")).to_have_attribute("data-state", "error")
    message = "That looks like a dot, not a digit: draw the whole digit."
    expect(page.locator("#message")).to_have_text(message)
    expect(page.locator("#message")).to_have_attribute("data-kind", "error")
    expect(page.locator("#result-digit")).to_have_text("?")
    # Said where a phone shows it, above the pad.
    expect(page.locator("#quick")).to_have_attribute("data-state", "error")
    expect(page.locator("#quick-confidence")).to_have_text(message)
    expect(page.locator("#quick-more")).to_be_hidden()
    expect_in_view(page, "#quick-confidence")
    expect(page.locator("#feedback")).to_be_hidden()

    page.keyboard.press("Escape")
    draw(page, SEVEN, tab.context.new_cdp_session(page))  # then the whole digit
    expect_answer(page, "7")
    expect_quick_answer(page, "7")
    assert tab.watch.problems(allow_status=422) == []
    assert tab.watch.problems() != []  # the 422 was seen (and excused)


def readings(page: Page) -> list[str]:
    """Every request the page sends to read an image, as ``path?query``, in order, as they are sent."""
    sent: list[str] = []

    def seen(request) -> None:
        parts = urlsplit(request.url)
        if parts.path in ("/predict", "/api/explain", "/api/read"):
            sent.append(f"{parts.path}?{parts.query}")

    page.on("request", seen)
    return sent


def open_explain(page: Page) -> None:
    """Opens "Inside the network" (its disclosure button), and checks it is open."""
    toggle = page.locator("#explain-toggle")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#explain-content")).to_be_visible()


def test_inside_the_network_shows_each_hidden_layer_and_the_first_layers_units(open_page):
    tab = open_page(**DESKTOP)
    page = tab.page
    sent = readings(page)
    expect(page.locator("#explain-heading")).to_have_text("Inside the network")
    expect(page.locator("#explain-content")).to_be_hidden()  # closed until the person opens it
    open_explain(page)
    expect(page.locator("#explain-empty")).to_be_visible()
    answer = answer_to_drawing(page, SEVEN, "/predict")
    expect_answer(page, "7")
    assert answer.status == 200
    # The explanation comes with the reading: one request, /predict?explain=1.
    assert parse_qs(urlsplit(answer.url).query) == {"model": ["digits"], "explain": ["1"]}
    explained = json.loads(answer.body())
    assert explained["model"] == "digits" and explained["label"] == 7 and len(explained["layers"]) == 2
    assert [layer["size"] for layer in explained["layers"]] == [800, 800]
    assert (explained["units"]["shown"], explained["units"]["of"]) == (32, 800)
    expect_explained(page, explained)

    with page.expect_response(is_path("/predict")) as switched:
        page.check("#model-seed")
    assert parse_qs(urlsplit(switched.value.url).query) == {"model": ["seed"], "explain": ["1"]}
    explained = json.loads(switched.value.body())
    assert explained["model"] == "seed" and [layer["size"] for layer in explained["layers"]] == [15]
    assert (explained["units"]["shown"], explained["units"]["of"]) == (15, 15)
    expect_explained(page, explained)
    page.evaluate(NEXT_FRAMES)
    assert sent == ["/predict?model=digits&explain=1", "/predict?model=seed&explain=1"]
    assert tab.watch.problems() == []


@pytest.mark.parametrize("screen", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_each_drawing_is_sent_once_with_the_panel_closed_or_open(open_page, screen):
    tab = open_page(**screen)
    page = tab.page
    cdp = tab.context.new_cdp_session(page) if screen.get("has_touch") else None
    sent = readings(page)
    # Closed: a plain /predict, and nothing inside the network is asked for.
    with page.expect_request(is_path("/predict")) as predicted:
        draw(page, SEVEN, cdp)
    expect_answer(page, "7")
    page.evaluate(NEXT_FRAMES)
    assert sent == ["/predict?model=digits"]
    expect(page.locator("#explain")).to_have_attribute("data-state", "empty")

    # Opened after the reading: the explanation of that drawing, asked once, with the same image.
    with page.expect_response(is_path("/api/explain")) as answer:
        page.locator("#explain-toggle").click()
    assert answer.value.status == 200
    asked = answer.value.request
    assert asked.post_data_buffer == predicted.value.post_data_buffer
    assert asked.headers["content-type"] == predicted.value.headers["content-type"]
    expect_explained(page, json.loads(answer.value.body()))
    page.locator("#explain-toggle").click()  # closed and opened again: shown, not asked again
    expect(page.locator("#explain-content")).to_be_hidden()
    page.locator("#explain-toggle").click()
    expect(page.locator("#explain")).to_have_attribute("data-state", "ok")
    page.evaluate(NEXT_FRAMES)
    assert sent == ["/predict?model=digits", "/api/explain?model=digits"]

    # Open: each new drawing is one /predict?explain=1 that brings the panel's data with it.
    page.keyboard.press("Escape")
    expect(page.locator("#explain")).to_have_attribute("data-state", "empty")
    page.locator("#canvas").scroll_into_view_if_needed()  # a finger does not scroll to the pad
    answer = answer_to_drawing(page, ONE, "/predict", cdp)
    expect_answer(page, "1")
    expect_explained(page, json.loads(answer.body()))
    page.evaluate(NEXT_FRAMES)
    assert sent[2:] == ["/predict?model=digits&explain=1"]
    assert tab.watch.problems() == []


def test_a_stale_explanation_never_replaces_a_newer_one(open_page):
    tab = open_page(**DESKTOP)
    page = tab.page
    held: list[Route] = []  # the first /api/explain request, answered only when the test says so

    def hold_the_first(route: Route) -> None:
        if held:
            route.continue_()
        else:
            held.append(route)

    page.route(lambda url: urlsplit(url).path == "/api/explain", hold_the_first)
    draw(page, ONE)
    expect_answer(page, "1")
    page.locator("#explain-toggle").click()  # opened after the reading: /api/explain is asked
    deadline = time.monotonic() + ANSWER_TIMEOUT / 1000
    while not held:
        assert time.monotonic() < deadline, "the page did not ask /api/explain"
        page.wait_for_timeout(20)
    expect(page.locator("#explain")).to_have_attribute("aria-busy", "true")

    with page.expect_response(is_path("/predict")) as answer:
        page.check("#model-seed")
    newer = json.loads(answer.value.body())
    assert newer["model"] == "seed"
    expect_explained(page, newer)

    # The digits model's explanation of the same drawing arrives now, after the seed's.
    with page.expect_event("requestfinished", is_path("/api/explain")):
        held[0].continue_()
    page.evaluate(NEXT_FRAMES)
    page.evaluate(NEXT_FRAMES)
    assert page.locator("#explain-layers canvas.strip").count() == 1
    assert page.locator("#units > li").count() == 15
    expect(page.locator("#explain")).to_have_attribute("aria-busy", "false")
    assert tab.watch.problems() == []


def test_feedback_stores_the_drawing_with_the_persons_digit(open_page, feedback_db):
    tab = open_page(**DESKTOP)
    page = tab.page
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if urlsplit(r.url).path == "/api/feedback" else None)
    predicted = answer_to_drawing(page, SEVEN, "/predict")
    expect_answer(page, "7")
    expect_feedback_offered(page, "7")
    answer = json.loads(predicted.body())

    with page.expect_response(is_path("/api/feedback")) as stored:
        page.get_by_role("button", name="It's a 7", exact=True).click()
    assert stored.value.status == 201
    assert json.loads(stored.value.request.post_data) == {"sample": answer["sample"], "label": 7}
    expect(page.locator("#feedback-status")).to_have_text("Thanks: stored as a 7.")
    expect(page.locator("#feedback button[aria-disabled='true']")).to_have_count(11)  # one answer per drawing

    # The row holds the digit, the guess, the model and the 28x28 image the network saw: no more.
    label, prediction, model, pixels = stored_row(feedback_db, json.loads(stored.value.body())["id"])
    assert (label, prediction, model) == (7, 7, "digits")
    seen = Image.open(io.BytesIO(base64.b64decode(answer["input"].split(",", 1)[1]))).convert("L")
    stored_pixels = np.frombuffer(pixels, dtype=np.uint8).reshape(SIDE, SIDE)
    assert np.abs(np.asarray(seen, dtype=int) - stored_pixels).max() <= 1

    # A second answer for the same drawing is not sent, not even for another model's reading.
    page.locator("#feedback .feedback-digit").nth(1).click(force=True)
    with page.expect_response(is_path("/predict")):
        page.check("#model-seed")
    expect(page.locator("#result-model")).to_have_text(re.compile(r"\bseed\b"))
    expect(page.locator("#feedback-status")).to_have_text("Thanks: stored as a 7.")
    page.locator("#feedback-yes").click(force=True)
    page.evaluate(NEXT_FRAMES)
    assert len(sent) == 1, sent

    # A new drawing gets a fresh row.
    page.click("#clear")
    expect(page.locator("#feedback")).to_be_hidden()
    draw(page, ONE)
    expect_answer(page, "1")
    expect_feedback_offered(page, "1")
    assert tab.watch.problems() == []


def test_the_storage_notice_is_shown_until_an_answer_is_stored(open_page):
    tab = open_page(**DESKTOP)
    page = tab.page
    notice = page.locator("#feedback-notice")
    draw(page, ONE)
    expect_answer(page, "1")
    expect_feedback_offered(page, "1")
    expect(notice).to_be_visible()
    expect(notice).to_have_text(NOTICE)
    expect(page.locator("#feedback-yes")).to_have_attribute("aria-describedby", "feedback-notice")
    page.click("#clear")
    draw(page, SEVEN)
    expect_answer(page, "7")
    expect(notice).to_be_visible()  # nothing stored yet: still said

    page.locator("#feedback-yes").focus()
    page.keyboard.press("Enter")  # keyboard-usable
    expect(page.locator("#feedback-status")).to_have_text("Thanks: stored as a 7.")
    expect(notice).to_be_hidden()
    page.click("#clear")
    draw(page, ONE)
    expect_answer(page, "1")
    expect_feedback_offered(page, "1")
    expect(notice).to_be_hidden()  # said once, and answered
    assert tab.watch.problems() == []


def test_feedback_that_cannot_be_stored_says_why_and_prediction_goes_on(open_page, tmp_path: Path):
    # A database capped at one page is full at once: the server answers 503 feedback_unavailable.
    env = {
        "DIGITS_FEEDBACK_DB": str(tmp_path / "full.sqlite"),
        "DIGITS_FEEDBACK_MAX_BYTES": "1",
        "DIGITS_SECRET_KEY": SECRET_KEY,
    }
    with gunicorn(env=env, workers=1) as full:
        tab = open_page(full.url, **DESKTOP)
        page = tab.page
        draw(page, SEVEN)
        expect_answer(page, "7")
        with page.expect_response(is_path("/api/feedback")) as answer:
            page.click("#feedback-yes")
        assert answer.value.status == 503
        assert json.loads(answer.value.body())["error"]["code"] == "feedback_unavailable"
        status = page.locator("#feedback-status")
        expect(status).to_have_attribute("data-kind", "error")
        expect(status).to_have_text(re.compile(r"^Feedback can't be stored right now: \S.*\.$"))
        text = status.text_content()
        assert text.lower().count("stored right now") == 1 and "{" not in text, text
        expect(page.locator("#feedback button[aria-disabled='false']")).to_have_count(11)  # it may be tried again
        expect(page.locator("#feedback-notice")).to_be_visible()

        page.click("#clear")
        draw(page, ONE)
        expect_answer(page, "1")
        expect_feedback_offered(page, "1")
        assert tab.watch.problems(allow_status=503) == []
        assert tab.watch.problems() != []  # the 503 was seen (and excused)


# -- the review page ----------------------------------------------------------------------------------

ADMIN_TOKEN = "browser-test-admin-token-0123"
PICTURES_SHOWN = """() => [...document.querySelectorAll("#gallery img.sample-picture")].map((img) => [
  img.complete && img.naturalWidth, img.naturalHeight, getComputedStyle(img).imageRendering, img.width])"""


def review_statuses(database: Path) -> dict[int, str]:
    with contextlib.closing(sqlite3.connect(database)) as connection:
        return dict(connection.execute("SELECT id, status FROM samples").fetchall())


@pytest.mark.parametrize("screen", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_review_page_signs_in_shows_the_samples_and_approves_and_rejects_them(open_page, tmp_path, screen):
    env = {
        "DIGITS_FEEDBACK_DB": str(tmp_path / "review.sqlite"),
        "DIGITS_SECRET_KEY": SECRET_KEY,
        "DIGITS_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    with gunicorn(env=env, workers=1) as server:
        tab = open_page(server.url, **screen)
        page = tab.page
        ids = []
        for digit, label in [("7", 7), ("1", 4), ("0", 0)]:  # stored as the drawing page stores them
            answer = page.request.post(
                server.url + "/predict", data=drawn_digit(digit), headers={"Content-Type": "image/png"}
            )
            assert answer.status == 200
            stored = page.request.post(
                server.url + "/api/feedback", data={"sample": answer.json()["sample"], "label": label}
            )
            assert stored.status == 201
            ids.append(stored.json()["id"])

        page.goto(server.url + "/review")
        expect(page.locator("#review")).to_have_attribute("data-view", "sign_in")
        page.fill("#token", "not-the-admin-token-000")
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#review-error")).to_have_text("That is not the admin token: sign-in failed.")
        page.fill("#token", ADMIN_TOKEN)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#review")).to_have_attribute("data-view", "gallery")
        cards = page.locator("#gallery > li.sample")
        expect(cards).to_have_count(3)
        assert [int(i) for i in cards.evaluate_all("(cards) => cards.map((c) => c.dataset.id)")] == ids[::-1]
        # Each picture is the 28x28 image, shown 112 px wide with its pixels kept square.
        assert page.evaluate(PICTURES_SHOWN) == [[SIDE, SIDE, "pixelated", 112]] * 3
        corrected = page.locator(f"#sample-{ids[1]}")
        expect(corrected.locator(".sample-label")).to_have_text("4")
        expect(corrected.locator(".differs")).to_be_visible()
        expect(corrected.locator(".sample-confidence")).to_have_text(re.compile(r"^\d+%$"))

        page.get_by_role("button", name=f"Approve sample {ids[0]}").click()
        expect(page.locator("#review-done")).to_have_text("1 sample approved.")
        expect(cards).to_have_count(2)
        assert review_statuses(server.feedback_db) == {ids[0]: "approved", ids[1]: "pending", ids[2]: "pending"}

        page.locator("#select-all").check()  # review.js: every box of the page
        expect(page.locator("#gallery input.pick:checked")).to_have_count(2)
        expect(page.locator("#selected")).to_have_text("2 of 2 chosen")
        page.get_by_role("button", name="Reject selected").click()
        expect(page.locator("#review-done")).to_have_text("2 samples rejected.")
        expect(page.locator("#review-empty")).to_have_text("No pending samples.")
        assert review_statuses(server.feedback_db) == {ids[0]: "approved", ids[1]: "rejected", ids[2]: "rejected"}

        page.get_by_role("link", name=re.compile(r"^All")).click()
        expect(cards).to_have_count(3)
        page.get_by_role("button", name="Sign out").click()
        expect(page.locator("#review")).to_have_attribute("data-view", "sign_in")
        # The one 403 was the wrong token's, and Chrome's console line for it.
        assert tab.watch.problems(allow_status=403) == []
