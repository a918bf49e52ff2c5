"""Make the README's screenshots of the page, from a real server and a real browser.

    python scripts/screenshots.py [--out docs]

Starts ``gunicorn wsgi:app`` as gunicorn.conf.py configures it, but bound to a free loopback port
and with its feedback database in a temporary folder; draws a 7 in Debian's Chromium through
Playwright, as a person does (``scripts/browser.py``); and writes, each atomically, into ``--out``:

- ``screenshot-desktop.png``: a 7 drawn with the mouse and read, on a 1280x800 desktop, with
  "Inside the network" opened first;
- ``screenshot-phone.png``: a 7 drawn with a finger on a 390x844 phone, the page as it opens, the
  answer in the line above the pad;
- ``screenshot-explain.png``: the "Inside the network" panel for the desktop's 7;
- ``screenshot-number.png``: number mode on the desktop, "207" written with the mouse, read and
  each digit boxed over the drawing;
- ``screenshot-review.png``: the review page (``/review``) signed in, "disagreements first", after
  twelve MNIST test digits (from ``--data``) were read and given labels through the API, three of
  them wrong, as a prankster would.

It stops the browser and gunicorn before it exits. The test suite never writes these files.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from playwright.sync_api import Page, sync_playwright  # noqa: E402

from model import cli, data, mnist  # noqa: E402
from model.fileio import atomic_write  # noqa: E402
from scripts import serve  # noqa: E402
from scripts.browser import (  # noqa: E402
    CHROMIUM,
    DESKTOP,
    NEXT_FRAMES,
    NUMBER,
    PHONE,
    SEVEN,
    TRANSITIONS_DONE,
    UNIT_PICTURES_LOADED,
    draw,
    launch,
)
from scripts.drawing import render_like_canvas  # noqa: E402

DOCS = ROOT / "docs"
WAIT_MS = 30_000  # for an answer, on a busy machine
PHONE_SCREEN = {**PHONE, "device_scale_factor": 2}  # a picture of 780x1688 pixels is plenty for the README
ADMIN_TOKEN = "screenshot-admin-token-0123456789"  # the server below lives only as long as this script
# The feedback of the review screenshot: MNIST test images by index, and the label "given" to each.
# Three labels are wrong (a 7 called 1, a 2 called 8, a 1 called 7): the disagreements shown first.
FEEDBACK = [(0, 1), (1, 8), (2, 7), (3, 0), (4, 4), (5, 1), (6, 4), (7, 9), (8, 5), (9, 9), (10, 0), (11, 6)]


def wait_for_reading(page: Page, label: str, explained: bool = True) -> None:
    """Waits until the page has read ``label`` (a digit, or a number's text) and, when ``explained``,
    explained it, and everything has stopped moving."""
    page.wait_for_selector('#result[data-state="ok"]', timeout=WAIT_MS)
    read = page.locator("#result-digit").text_content()
    if read != label:
        raise RuntimeError(f"the page read the drawing as {read!r}, not {label!r}: no screenshot of that")
    if explained:
        page.wait_for_selector('#explain[data-state="ok"][aria-busy="false"]', timeout=WAIT_MS)
        page.wait_for_function(UNIT_PICTURES_LOADED, timeout=WAIT_MS)
    page.mouse.move(4, 4)  # off the pad and every control: nothing hovered
    page.evaluate(NEXT_FRAMES)
    page.evaluate(TRANSITIONS_DONE)


def save(page: Page, path: Path) -> None:
    with atomic_write(path) as f:
        f.write(page.screenshot(type="png", animations="disabled"))
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def desktop_and_explain(page: Page, out: Path) -> None:
    page.click("#explain-toggle")  # open: the reading brings what it shows
    page.evaluate("() => window.scrollTo(0, 0)")
    draw(page, SEVEN)
    wait_for_reading(page, "7")
    save(page, out / "screenshot-desktop.png")
    page.locator("#explain").evaluate("(panel) => window.scrollTo(0, panel.getBoundingClientRect().top + scrollY - 16)")
    page.evaluate(NEXT_FRAMES)
    save(page, out / "screenshot-explain.png")


def phone(page: Page, out: Path) -> None:
    draw(page, SEVEN, page.context.new_cdp_session(page))  # at the top of the page, as it opens
    wait_for_reading(page, "7", explained=False)
    page.wait_for_selector('#quick[data-state="ok"]', timeout=WAIT_MS)
    page.evaluate("() => window.scrollTo(0, 0)")
    save(page, out / "screenshot-phone.png")


def number(page: Page, out: Path) -> None:
    page.click("label[for='mode-number']")
    page.wait_for_selector('#app[data-mode="number"]', timeout=WAIT_MS)
    page.evaluate(NEXT_FRAMES)
    text, strokes = NUMBER
    draw(page, strokes)
    wait_for_reading(page, text, explained=False)
    page.wait_for_selector(".digit-box", timeout=WAIT_MS)
    page.evaluate("() => window.scrollTo(0, 0)")
    page.evaluate(NEXT_FRAMES)
    save(page, out / "screenshot-number.png")


def post(url: str, body: bytes, content_type: str) -> dict:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def give_feedback(server_url: str, images: np.ndarray) -> None:
    """Reads each ``FEEDBACK`` image through ``/predict`` as the page sends it and gives its label."""
    rng = np.random.default_rng(0)
    for index, label in FEEDBACK:
        png = render_like_canvas(images[index], rng, transparent=True, canvas=280)
        reading = post(server_url + "/predict", png, "image/png")
        body = json.dumps({"sample": reading["sample"], "label": label}).encode()
        post(server_url + "/api/feedback", body, "application/json")


def review(page: Page, out: Path) -> None:
    page.fill("#token", ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector('#review[data-view="gallery"]', timeout=WAIT_MS)
    page.get_by_role("link", name="Disagreements first").click()
    page.wait_for_selector('#review[data-view="gallery"]', timeout=WAIT_MS)
    page.mouse.move(4, 4)
    page.evaluate(NEXT_FRAMES)
    save(page, out / "screenshot-review.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=cli.description(__doc__))
    parser.add_argument("--out", type=Path, default=DOCS, help="folder to write the PNGs in (default: docs/)")
    parser.add_argument(
        "--data", type=Path, default=mnist.default_dir(), help="the MNIST folder, for the review page's samples"
    )
    args = parser.parse_args(argv)
    try:
        test_images = data.load_mnist_split(args.data, "t10k").images
    except data.DataError as e:
        parser.exit(1, f"{e}\n")
    if not os.access(CHROMIUM, os.X_OK):
        parser.exit(1, f"{CHROMIUM} not found (apt-get install chromium)\n")
    out = args.out.resolve()
    with (
        serve.gunicorn(
            workers=1, env={"DIGITS_RATE_LIMITS": "off", "DIGITS_ADMIN_TOKEN": ADMIN_TOKEN}, settings_from_caller=False
        ) as server,
        sync_playwright() as playwright,
    ):
        browser = launch(playwright)
        try:
            give_feedback(server.url, test_images)
            shots = (
                (DESKTOP, "/", desktop_and_explain),
                (PHONE_SCREEN, "/", phone),
                (DESKTOP, "/", number),
                (DESKTOP, "/review", review),
            )
            for screen, path, shoot in shots:
                context = browser.new_context(**screen)
                try:
                    page = context.new_page()
                    page.goto(server.url + path, wait_until="load")
                    if path == "/":
                        page.wait_for_selector("html.js")  # main.js ran to its end
                    shoot(page, out)
                finally:
                    context.close()
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
