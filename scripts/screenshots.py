"""Make the README's screenshots of the page, from a real server and a real browser.

    python scripts/screenshots.py [--out docs]

Starts ``gunicorn wsgi:app`` as gunicorn.conf.py configures it, but bound to a free loopback port
and with its feedback database in a temporary folder; draws a 7 in Debian's Chromium through
Playwright, as a person does (``scripts/browser.py``); and writes, each atomically, into ``--out``:

- ``screenshot-desktop.png``: a 7 drawn with the mouse and read, on a 1280x800 desktop;
- ``screenshot-phone.png``: a 7 drawn with a finger on a 390x844 phone, the page as it opens, the
  answer in the line above the pad;
- ``screenshot-explain.png``: the "Inside the network" panel for the desktop's 7.

It stops the browser and gunicorn before it exits. The test suite never writes these files.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from playwright.sync_api import Page, sync_playwright  # noqa: E402

from model import cli  # noqa: E402
from model.fileio import atomic_write  # noqa: E402
from scripts import serve  # noqa: E402
from scripts.browser import (  # noqa: E402
    CHROMIUM,
    DESKTOP,
    NEXT_FRAMES,
    PHONE,
    SEVEN,
    TRANSITIONS_DONE,
    UNIT_PICTURES_LOADED,
    draw,
    launch,
)

DOCS = ROOT / "docs"
WAIT_MS = 30_000  # for an answer, on a busy machine
PHONE_SCREEN = {**PHONE, "device_scale_factor": 2}  # a picture of 780x1688 pixels is plenty for the README


def wait_for_reading(page: Page, label: str) -> None:
    """Waits until the page has read ``label`` and explained it, and everything has stopped moving."""
    page.wait_for_selector('#result[data-state="ok"]', timeout=WAIT_MS)
    read = page.locator("#result-digit").text_content()
    if read != label:
        raise RuntimeError(f"the page read the drawing as {read!r}, not {label!r}: no screenshot of that")
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
    draw(page, SEVEN)
    wait_for_reading(page, "7")
    save(page, out / "screenshot-desktop.png")
    page.locator("#explain").evaluate("(panel) => window.scrollTo(0, panel.getBoundingClientRect().top + scrollY - 16)")
    page.evaluate(NEXT_FRAMES)
    save(page, out / "screenshot-explain.png")


def phone(page: Page, out: Path) -> None:
    draw(page, SEVEN, page.context.new_cdp_session(page))  # at the top of the page, as it opens
    wait_for_reading(page, "7")
    page.wait_for_selector('#quick[data-state="ok"]', timeout=WAIT_MS)
    page.evaluate("() => window.scrollTo(0, 0)")
    save(page, out / "screenshot-phone.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=cli.description(__doc__))
    parser.add_argument("--out", type=Path, default=DOCS, help="folder to write the PNGs in (default: docs/)")
    args = parser.parse_args(argv)
    if not os.access(CHROMIUM, os.X_OK):
        parser.exit(1, f"{CHROMIUM} not found (apt-get install chromium)\n")
    out = args.out.resolve()
    with (
        serve.gunicorn(workers=1, settings_from_caller=False) as server,
        sync_playwright() as playwright,
    ):
        browser = launch(playwright)
        try:
            for screen, shoot in ((DESKTOP, desktop_and_explain), (PHONE_SCREEN, phone)):
                context = browser.new_context(**screen)
                try:
                    page = context.new_page()
                    page.goto(server.url + "/", wait_until="load")
                    page.wait_for_selector("html.js")  # main.js ran to its end
                    shoot(page, out)
                finally:
                    context.close()
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
