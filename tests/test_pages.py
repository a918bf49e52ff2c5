"""The drawing page: served with its security headers, and every asset it references exists."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from app.security import HEADERS


class References(HTMLParser):
    """Collects what the page loads: script src, link href, img src; and any inline script/style."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            if attrs.get("src"):
                self.urls.append(attrs["src"])
            else:
                self.inline.append("<script> without src")
        if tag == "style":
            self.inline.append("<style>")
        if tag == "link" and attrs.get("href"):
            self.urls.append(attrs["href"])
        if tag == "img" and attrs.get("src"):
            self.urls.append(attrs["src"])
        for name in attrs:
            if name == "style" or name.startswith("on"):
                self.inline.append(f"{tag} {name}=")


def page_references(html: str) -> References:
    parser = References()
    parser.feed(html)
    return parser


def test_page_is_served_with_security_headers(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    for name, value in HEADERS.items():
        assert response.headers[name] == value
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp


def test_page_has_no_inline_script_or_style_and_no_external_urls(client):
    response = client.get("/")
    assert response.status_code == 200
    refs = page_references(response.get_data(as_text=True))
    assert refs.inline == []
    assert refs.urls, "the page references no assets"
    assert all(url.startswith("/") and not url.startswith("//") for url in refs.urls), refs.urls


def test_every_referenced_asset_answers_200(client):
    response = client.get("/")
    assert response.status_code == 200
    refs = page_references(response.get_data(as_text=True))
    assert any(re.search(r"\.js(\?|$)", url) for url in refs.urls)
    assert any(re.search(r"\.css(\?|$)", url) for url in refs.urls)
    assert any("favicon" in url for url in refs.urls)
    for url in refs.urls:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["X-Content-Type-Options"] == "nosniff"


def test_page_lists_the_models(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "digits" in html and "seed" in html and "784-15-10" in html
