"""The review page at /review (app/review.py): there only with an admin token, signed in with it, safe
against cross-site requests, and approving or rejecting exactly the samples a person picks."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import io
import re
import sqlite3
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pytest
from itsdangerous import TimestampSigner
from PIL import Image
from werkzeug.datastructures import MultiDict

from app import StartupError, create_app, review
from app.errors import BY_CODE, ERRORS
from app.security import HEADERS
from model.feedback import FeedbackStore
from model.shape import PIXELS, SIDE
from tests.support.canvas import drawn_digit

TOKEN = "review-test-token-0123456789"
SECRET_KEY = "review-test-secret-key-0123"
CROSS_SITE = "http://evil.example"
# Origin and Sec-Fetch-Site values no browser sends from this site (the test client's is http://localhost):
# each is another site's, never a 500.
MALFORMED = {
    "origin-unclosed-ipv6": {"Origin": "http://[::1"},
    "origin-bad-ipv6": {"Origin": "http://[zz]"},
    "origin-bad-ipv6-here": {"Origin": "http://[zz]", "Sec-Fetch-Site": "same-origin"},
    "origin-no-scheme": {"Origin": "localhost"},
    "origin-path": {"Origin": "http://localhost/review"},
    "origin-userinfo": {"Origin": "http://evil.example@localhost"},
    "origin-suffix": {"Origin": "http://localhost.evil.example"},
    "origin-port-out-of-range": {"Origin": "http://localhost:99999"},
    "origin-empty": {"Origin": ""},
    "origin-non-ascii": {"Origin": "http://l\u00f6calhost"},
    "origin-two": {"Origin": "http://localhost http://evil.example"},
    "fetch-site-empty": {"Sec-Fetch-Site": ""},
    "fetch-site-upper": {"Sec-Fetch-Site": "SAME-ORIGIN"},
    "fetch-site-list": {"Sec-Fetch-Site": "same-origin, cross-site"},
    "fetch-site-bracket": {"Sec-Fetch-Site": "[::1", "Origin": "http://[::1"},
}


def make_app(tmp_path: Path, **config):
    settings = {
        "TESTING": True,
        "FEEDBACK_DB": str(tmp_path / "feedback.sqlite"),
        "ADMIN_TOKEN": TOKEN,
        "SECRET_KEY": SECRET_KEY,
        "RATE_LIMITS": "off",
        **config,
    }
    return create_app(settings)


@pytest.fixture
def review_app(tmp_path):
    return make_app(tmp_path)


@pytest.fixture
def admin(review_app):
    """A test client signed in on the review page."""
    client = review_app.test_client()
    response = sign_in(client)
    assert response.status_code == 303
    return client


def store_of(app) -> FeedbackStore:
    return app.extensions["digits.feedback"]


def picture(k: int) -> np.ndarray:
    """A (28, 28) uint8 image different for each ``k``."""
    pixels = np.zeros((SIDE, SIDE), np.uint8)
    pixels[4 + k % 20, 2:26] = 255
    pixels[2:26, 4 + (k * 7) % 20] = 128 + k % 100
    return pixels


def add_samples(app, readings: list[tuple[int, int, float | None]]) -> list[int]:
    """Store one sample per (prediction, label, confidence), oldest first; their row ids."""
    store = store_of(app)
    start = store.counts()
    offset = sum(start.values())
    return [
        store.add(f"sample-{offset + k}", picture(offset + k), prediction, "digits", label, confidence)
        for k, (prediction, label, confidence) in enumerate(readings)
    ]


def statuses(app) -> dict[int, str]:
    return {s.id: s.status for s in store_of(app).samples(None, "oldest", None)}


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client, token: str = TOKEN, **headers):
    page = client.get("/review")
    assert page.status_code == 200
    return client.post("/review/sign-in", data={"token": token, "csrf": csrf_of(page.text)}, headers=headers)


def gallery_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<li class="card sample" id="sample-(\d+)"', html)]


def signed_in(client) -> bool:
    response = client.get("/review")
    assert response.status_code == 200
    return 'data-view="gallery"' in response.text


def error_of(response) -> str | None:
    found = re.search(r'data-error="([a-z_]+)"', response.text)
    return found.group(1) if found else None


def cookie_header(response) -> str:
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(review.COOKIE + "=")]
    return header


# -- forms as a browser without JavaScript submits them -------------------------------------------------


@dataclass
class Form:
    action: str
    fields: list[tuple[str, str]] = field(default_factory=list)  # hidden inputs
    buttons: list[tuple[str | None, str, str]] = field(default_factory=list)  # name, value, aria-label or text
    boxes: list[str] = field(default_factory=list)  # checkbox values (name "ids", each "ID:LABEL")


class Forms(HTMLParser):
    """Every form of a page by id (or by place), with checkboxes that join a form by its ``form`` attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.by_id: dict[str, Form] = {}
        self._open: Form | None = None
        self._button: list | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._open = Form(a.get("action", ""))
            self.forms.append(self._open)
            if "id" in a:
                self.by_id[a["id"]] = self._open
        elif tag == "input" and a.get("type") == "checkbox" and a.get("form"):
            self.by_id[a["form"]].boxes.append(a["value"])
        elif tag == "input" and a.get("type") == "hidden" and self._open is not None:
            self._open.fields.append((a["name"], a.get("value", "")))
        elif tag == "button" and self._open is not None:
            self._button = [a.get("name"), a.get("value", ""), a.get("aria-label", "")]

    def handle_data(self, data):
        if self._button is not None and not self._button[2]:
            self._button[2] = data.strip()

    def handle_endtag(self, tag):
        if tag == "form":
            self._open = None
        elif tag == "button" and self._button is not None and self._open is not None:
            self._open.buttons.append(tuple(self._button))
            self._button = None


def forms_of(html: str) -> Forms:
    parser = Forms()
    parser.feed(html)
    return parser


def box_id(box: str) -> int:
    """The sample id of a box's value, ``ID:LABEL``."""
    return int(box.split(":")[0])


def press(client, html: str, button: str, check: list[int] = ()):
    """Press the button labelled ``button`` with the boxes of samples ``check`` ticked, as a browser would."""
    for form in forms_of(html).forms:
        for name, value, label in form.buttons:
            if label == button:
                ticked = [("ids", box) for box in form.boxes if box_id(box) in check]
                assert len(ticked) == len(check), f"not all of {check} can be ticked for {button!r}"
                pressed = [(name, value)] if name else []
                return client.post(form.action, data=MultiDict([*form.fields, *ticked, *pressed]))
    raise AssertionError(f"no button {button!r} on the page")


# -- there only with a token ------------------------------------------------------------------------------

REVIEW_REQUESTS = {
    "page": lambda c: c.get("/review"),
    "page-slash": lambda c: c.get("/review/"),
    "sign-in": lambda c: c.post("/review/sign-in", data={"token": TOKEN}),
    "sign-in-get": lambda c: c.get("/review/sign-in"),
    "sign-out": lambda c: c.post("/review/sign-out"),
    "decide": lambda c: c.post("/review/decide", data={"ids": "1", "decision": "approve"}),
    "decide-get": lambda c: c.get("/review/decide"),
    "other": lambda c: c.get("/review/anything/else"),
}


@pytest.mark.parametrize("send", list(REVIEW_REQUESTS.values()), ids=list(REVIEW_REQUESTS))
def test_without_a_token_every_review_path_is_the_ordinary_404(app, client, send):
    assert app.config["ADMIN_TOKEN"] is None
    unknown = client.get("/no/such/path")
    response = send(client)
    assert response.status_code == 404 == unknown.status_code
    assert response.get_json()["error"]["code"] == "not_found"
    assert response.get_json() == unknown.get_json()
    assert sorted(response.headers.keys()) == sorted(unknown.headers.keys())
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize(
    ("how", "token"),
    # An empty variable is an unset one; an empty token in the configuration is a short one.
    [
        ("environment", "s3cr3t!"),
        ("environment", "fifteen-chars-x"),
        ("environment", "  fifteen-chars-x\n"),  # the whitespace around it does not count
        ("config", "s3cr3t!"),
        ("config", ""),
        ("config", "\tfifteen-chars-x "),
    ],
)
def test_a_short_admin_token_stops_the_start_with_one_line(tmp_path, monkeypatch, how, token):
    if how == "environment":
        monkeypatch.setenv("DIGITS_ADMIN_TOKEN", token)
        config = {}
    else:
        config = {"ADMIN_TOKEN": token}
    with pytest.raises(StartupError) as caught:
        create_app({"TESTING": True, "FEEDBACK_DB": str(tmp_path / "f.sqlite"), **config})
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("DIGITS_ADMIN_TOKEN is too short") and "at least 16" in message
    assert not token or token not in message.replace("DIGITS_ADMIN_TOKEN", "")


@pytest.mark.parametrize("how", ["environment", "config"])
def test_whitespace_around_the_admin_token_is_dropped(tmp_path, monkeypatch, how):
    padded = f"  {TOKEN}\n"  # e.g. a secrets file's trailing newline
    if how == "environment":
        monkeypatch.setenv("DIGITS_ADMIN_TOKEN", padded)
        app = create_app({"TESTING": True, "FEEDBACK_DB": str(tmp_path / "f.sqlite"), "RATE_LIMITS": "off"})
    else:
        app = make_app(tmp_path, ADMIN_TOKEN=padded)
    assert app.config["ADMIN_TOKEN"] == TOKEN
    client = app.test_client()
    assert sign_in(client).status_code == 303
    assert signed_in(client)
    padded_client = app.test_client()
    assert sign_in(padded_client, padded).status_code == 403  # the token is what is compared, not its padding
    assert not signed_in(padded_client)


def test_the_token_can_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITS_ADMIN_TOKEN", TOKEN)
    app = create_app({"TESTING": True, "FEEDBACK_DB": str(tmp_path / "f.sqlite"), "RATE_LIMITS": "off"})
    client = app.test_client()
    assert sign_in(client).status_code == 303
    assert signed_in(client)


# -- signing in ---------------------------------------------------------------------------------------------


def test_signed_out_the_page_is_the_sign_in_form_and_its_cookie_is_locked_down(review_app):
    client = review_app.test_client()
    response = client.get("/review")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert 'data-view="sign_in"' in response.text
    assert 'name="token"' in response.text and 'type="password"' in response.text
    assert 'id="gallery"' not in response.text
    flags = [part.strip().lower() for part in cookie_header(response).split(";")]
    assert "httponly" in flags
    assert "samesite=strict" in flags
    assert "path=/review" in flags
    assert "secure" not in flags  # plain HTTP here; see the HTTPS test
    [expires] = [f for f in flags if f.startswith("expires=")]
    left = dt.datetime.strptime(expires.split("=", 1)[1], "%a, %d %b %Y %H:%M:%S gmt").replace(tzinfo=dt.UTC)
    hours = (left - dt.datetime.now(dt.UTC)).total_seconds() / 3600
    assert review.SESSION_HOURS - 0.1 < hours <= review.SESSION_HOURS


def test_over_https_the_cookie_is_secure(review_app):
    client = review_app.test_client()
    response = client.get("/review", base_url="https://localhost")
    assert response.status_code == 200
    assert "secure" in [part.strip().lower() for part in cookie_header(response).split(";")]


def test_the_right_token_gives_a_fresh_session_and_the_gallery(review_app):
    client = review_app.test_client()
    before = csrf_of(client.get("/review").text)
    response = client.post("/review/sign-in", data={"token": TOKEN, "csrf": before})
    assert response.status_code == 303
    assert response.headers["Location"] == "/review"
    assert "httponly" in cookie_header(response).lower()
    page = client.get("/review")
    assert page.status_code == 200
    assert 'data-view="gallery"' in page.text
    assert csrf_of(page.text) != before
    assert "Sign out" in page.text


@pytest.mark.parametrize(
    "token",
    ["", "wrong", TOKEN[:-1], TOKEN + "x", TOKEN.upper(), " " + TOKEN, "é" * 20, "x" * 10_000],
    ids=["empty", "wrong", "one-short", "one-more", "upper", "space", "non-ascii", "long"],
)
def test_a_wrong_token_is_403_with_the_form_again_and_signs_nobody_in(review_app, token):
    client = review_app.test_client()
    response = sign_in(client, token)
    assert response.status_code == 403
    assert error_of(response) == "sign_in_failed"
    assert "That is not the admin token" in response.text
    assert response.text.count('role="alert"') == 1
    assert 'name="token"' in response.text  # the form again
    assert TOKEN not in response.text
    assert not signed_in(client)


def test_a_token_as_long_as_a_flood_is_a_clear_413(review_app):
    client = review_app.test_client()
    response = sign_in(client, "x" * (review.MAX_BODY + 1))
    assert response.status_code == 413
    assert error_of(response) == "too_large"
    assert f"at most {review.MAX_BODY:,} bytes" in response.text
    assert not signed_in(client)


def test_a_chunked_form_within_the_limit_is_read_whole(review_app):
    """Without a Content-Length (chunked, as gunicorn passes it on) the review page reads the whole
    body before the form (a longer one is refused 413: test_hostile.py's review_decide_chunked_over_limit)."""
    client = review_app.test_client()
    page = client.get("/review")
    body = urlencode({"token": TOKEN, "csrf": csrf_of(page.text)}).encode()
    response = client.post(
        "/review/sign-in",
        input_stream=io.BytesIO(body),
        content_type="application/x-www-form-urlencoded",
        environ_base={"wsgi.input_terminated": True},  # what a server sets for a chunked body
    )
    assert response.status_code == 303
    assert signed_in(client)


@pytest.mark.parametrize(
    ("fields", "headers"),
    [
        ({"token": TOKEN}, {}),
        ({"token": TOKEN, "csrf": "forged"}, {}),
        ({"token": TOKEN, "csrf": "<page>"}, {"Origin": CROSS_SITE}),
        ({"token": TOKEN, "csrf": "<page>"}, {"Sec-Fetch-Site": "cross-site"}),
        *[({"token": TOKEN, "csrf": "<page>"}, headers) for headers in MALFORMED.values()],
    ],
    ids=["no-csrf", "wrong-csrf", "cross-site-origin", "cross-site-fetch", *MALFORMED],
)
def test_sign_in_needs_the_pages_csrf_token_and_the_same_site(review_app, fields, headers):
    client = review_app.test_client()
    page = client.get("/review")
    fields = {k: csrf_of(page.text) if v == "<page>" else v for k, v in fields.items()}
    response = client.post("/review/sign-in", data=fields, headers=headers)
    assert response.status_code == 403
    assert error_of(response) == "csrf_failed"
    assert not signed_in(client)


def test_sign_in_without_any_session_is_refused(review_app):
    client = review_app.test_client()
    response = client.post("/review/sign-in", data={"token": TOKEN, "csrf": "anything"})
    assert response.status_code == 403
    assert error_of(response) == "csrf_failed"
    assert not signed_in(client)


def test_sign_in_attempts_are_rate_limited(tmp_path):
    app = make_app(tmp_path, RATE_LIMITS="sign_in=2/minute")
    client = app.test_client()
    for _ in range(2):
        assert sign_in(client, "wrong-token-0123456789").status_code == 403
    response = sign_in(client)  # even the right token, once over the budget
    assert response.status_code == 429
    assert error_of(response) == "rate_limited"
    retry = response.headers["Retry-After"]
    assert retry.isdigit() and 0 < int(retry) <= 60
    assert 'name="token"' in response.text and response.mimetype == "text/html"
    assert not signed_in(client)
    # Budgets are separate: the drawing page's API is not held up by the sign-in's.
    assert client.get("/healthz").status_code == 200


def test_forms_from_another_site_do_not_spend_the_sign_in_budget(tmp_path):
    app = make_app(tmp_path, RATE_LIMITS="sign_in=2/minute")
    client = app.test_client()
    csrf = csrf_of(client.get("/review").text)
    foreign = [{"Origin": CROSS_SITE}, {"Sec-Fetch-Site": "cross-site"}, *MALFORMED.values()]
    for headers in foreign * 2:
        response = client.post("/review/sign-in", data={"token": TOKEN, "csrf": csrf}, headers=headers)
        assert response.status_code == 403
        assert error_of(response) == "csrf_failed"
    for _ in range(3):  # nor forms this page did not make (no Origin, as from an old browser)
        response = client.post("/review/sign-in", data={"token": TOKEN, "csrf": "forged"})
        assert response.status_code == 403
        assert error_of(response) == "csrf_failed"
    # The whole budget is left for the person's own attempts, and it still holds them.
    assert sign_in(client, "wrong-token-0123456789").status_code == 403
    assert sign_in(client).status_code == 303
    assert signed_in(client)
    over = sign_in(app.test_client())
    assert over.status_code == 429
    assert error_of(over) == "rate_limited"


@pytest.mark.parametrize(
    ("seconds_ago", "still_in"), [(review.SESSION_HOURS * 3600 - 60, True), (review.SESSION_HOURS * 3600 + 5, False)]
)
def test_a_session_ends_its_hours_after_sign_in(review_app, monkeypatch, seconds_ago, still_in):
    client = review_app.test_client()
    signed = int(time.time()) - seconds_ago
    with monkeypatch.context() as m:
        m.setattr(TimestampSigner, "get_timestamp", lambda self: signed)
        assert sign_in(client).status_code == 303
        assert signed_in(client)
    assert signed_in(client) is still_in


def test_a_new_admin_token_signs_everyone_out(tmp_path, review_app, admin):
    assert signed_in(admin)
    cookie = admin.get_cookie(review.COOKIE, path="/review")
    renewed = make_app(tmp_path, ADMIN_TOKEN=TOKEN + "-renewed").test_client()
    renewed.set_cookie(review.COOKIE, cookie.value, path="/review")
    assert not signed_in(renewed)
    same = make_app(tmp_path).test_client()  # the same token and secret key: still signed in
    same.set_cookie(review.COOKIE, cookie.value, path="/review")
    assert signed_in(same)


def test_an_altered_cookie_is_no_session(admin):
    cookie = admin.get_cookie(review.COOKIE, path="/review")
    payload, rest = cookie.value.split(".", 1)
    admin.set_cookie(
        review.COOKIE, payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + rest, path="/review"
    )
    assert not signed_in(admin)


def test_sign_out_ends_the_session(admin):
    page = admin.get("/review")
    response = press(admin, page.text, "Sign out")
    assert response.status_code == 303
    assert response.headers["Location"] == "/review"
    assert not signed_in(admin)


def test_a_link_from_another_site_does_not_replace_the_session(review_app, admin):
    """SameSite=Strict withholds the cookie on a link followed from elsewhere; answering with a new
    session would sign the person out. (The test client sends cookies whatever the site: a fresh client
    stands for the browser that withheld it.)"""
    followed = review_app.test_client().get("/review", headers={"Sec-Fetch-Site": "cross-site"})
    assert followed.status_code == 200
    assert 'data-view="continue"' in followed.text
    assert '<a class="button button-primary" href="/review">Continue to the review page</a>' in followed.text
    assert "Set-Cookie" not in followed.headers
    with_cookie = admin.get("/review", headers={"Sec-Fetch-Site": "cross-site"})
    assert with_cookie.status_code == 200
    assert 'data-view="gallery"' in with_cookie.text
    assert "Set-Cookie" not in with_cookie.headers
    assert signed_in(admin)


# -- the gallery ----------------------------------------------------------------------------------------


def test_each_card_shows_the_picture_label_reading_confidence_time_and_status(review_app, admin):
    [sure, old] = add_samples(review_app, [(3, 8, 0.973), (1, 1, None)])
    response = admin.get("/review")
    assert response.status_code == 200
    assert gallery_ids(response.text) == [old, sure]
    card = response.text.split(f'id="sample-{sure}"', 1)[1].split("</li>", 1)[0]
    assert '<dd class="sample-label">8</dd>' in card
    assert re.search(r'<dd class="sample-reading">3 <span class="differs">', card)
    assert '<dd class="sample-confidence">97%</dd>' in card
    assert '<dd class="sample-model">digits</dd>' in card
    assert re.search(
        r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00">\d{4}-\d\d-\d\d \d\d:\d\d UTC</time>', card
    )
    assert 'data-status="pending">pending</dd>' in card
    src = re.search(r'<img class="sample-picture" src="data:image/png;base64,([^"]+)"', card).group(1)
    with Image.open(io.BytesIO(base64.b64decode(src))) as png:
        assert png.size == (SIDE, SIDE)
        np.testing.assert_array_equal(np.asarray(png), picture(0))
    other = response.text.split(f'id="sample-{old}"', 1)[1].split("</li>", 1)[0]
    assert '<dd class="sample-confidence">unknown</dd>' in other
    assert "differs" not in other


def test_filters_by_status_with_counts(review_app, admin):
    ids = add_samples(review_app, [(k % 10, k % 10, 0.9) for k in range(6)])
    store_of(review_app).set_status(ids[:2], "approved")
    store_of(review_app).set_status(ids[2:3], "rejected")
    expected = {"pending": ids[3:], "approved": ids[:2], "rejected": ids[2:3], "all": ids}
    for status, members in expected.items():
        response = admin.get(f"/review?status={status}&order=oldest")
        assert response.status_code == 200
        assert gallery_ids(response.text) == members, status
        assert re.search(rf'aria-current="page">{status.capitalize()}\s*<span class="count"', response.text)
    default = admin.get("/review")
    assert gallery_ids(default.text) == list(reversed(ids[3:]))  # pending, newest first
    counts = dict(re.findall(r'<span class="count" data-status="(\w+)">(\d+)</span>', default.text))
    assert counts == {"pending": "3", "approved": "2", "rejected": "1", "all": "6"}


def test_orders_newest_oldest_and_disagreements_first(review_app, admin):
    ids = add_samples(
        review_app,
        [(7, 7, 0.99), (7, 1, 0.95), (2, 2, 0.5), (4, 9, 0.3), (5, 6, None), (0, 0, 0.8)],
    )
    newest = admin.get("/review?order=newest")
    oldest = admin.get("/review?order=oldest")
    disagreements = admin.get("/review?order=disagreements")
    assert newest.status_code == oldest.status_code == disagreements.status_code == 200
    assert gallery_ids(newest.text) == ids[::-1]
    assert gallery_ids(oldest.text) == ids
    # A label against a confident reading (or one of unknown confidence) first, newest first in each group;
    # 4 read at 30% and labelled 9 is not confident enough to count.
    first = [ids[4], ids[1]]
    assert gallery_ids(disagreements.text) == first + [i for i in ids[::-1] if i not in first]
    assert 'aria-current="page">Disagreements first' in disagreements.text


@pytest.mark.parametrize("low_confidence", [0.2, 0.6, 0.95])
def test_the_differs_badge_is_what_disagreements_first_puts_first(tmp_path, low_confidence):
    app = make_app(tmp_path, LOW_CONFIDENCE=low_confidence)
    client = app.test_client()
    assert sign_in(client).status_code == 303
    readings = [(7, 1, 0.99), (4, 9, 0.3), (2, 2, 0.5), (5, 6, None), (3, 8, 0.7), (0, 0, 0.8), (6, 5, 0.6)]
    ids = add_samples(app, readings)
    expected = {
        i for i, (read, label, sure) in zip(ids, readings) if label != read and (sure is None or sure >= low_confidence)
    }
    for order in ("disagreements", "newest"):
        response = client.get(f"/review?order={order}")
        assert response.status_code == 200
        shown = gallery_ids(response.text)
        marked = re.findall(r'<li class="card sample" id="sample-(\d+)"[^>]*data-disagrees', response.text)
        badged = {int(i) for i in marked}
        differs = {i for i in shown if '<span class="differs">' in card_of(response.text, i)}
        assert badged == differs == expected, order
        if order == "disagreements":
            assert set(shown[: len(expected)]) == expected


def card_of(html: str, sample_id: int) -> str:
    return html.split(f'id="sample-{sample_id}"', 1)[1].split("</li>", 1)[0]


def test_pages_of_the_gallery(review_app, admin):
    n = review.PER_PAGE + 5
    ids = add_samples(review_app, [(1, 1, 0.9)] * n)
    first = admin.get("/review?order=oldest")
    assert first.status_code == 200
    assert gallery_ids(first.text) == ids[: review.PER_PAGE]
    assert (
        "Page 1 of 2" in first.text
        and 'rel="next" href="/review?status=pending&amp;order=oldest&amp;page=2"' in first.text
    )
    second = admin.get("/review?order=oldest&page=2")
    assert second.status_code == 200
    assert gallery_ids(second.text) == ids[review.PER_PAGE :]
    assert "Page 2 of 2" in second.text and 'rel="prev"' in second.text and 'rel="next"' not in second.text
    beyond = admin.get("/review?order=oldest&page=9")  # e.g. after deciding on a last page's samples
    assert beyond.status_code == 200
    assert gallery_ids(beyond.text) == ids[review.PER_PAGE :]


def test_an_empty_gallery_says_so(admin):
    response = admin.get("/review?status=rejected")
    assert response.status_code == 200
    assert gallery_ids(response.text) == []
    assert "No rejected samples." in response.text


@pytest.mark.parametrize(
    "query",
    [
        "status=deleted",
        "status=%C3%A9",
        "status=All",
        "order=random",
        "order=%00",
        "page=0",
        "page=-1",
        "page=abc",
        "page=1e3",
        "page=99999999999",
        "page=" + "9" * 5000,
        "page=%D9%A1",  # an Arabic-Indic 1
        "page=%EF%BC%91",  # a fullwidth 1
    ],
)
def test_filters_the_page_does_not_offer_are_a_400(admin, query):
    response = admin.get(f"/review?{query}")
    assert response.status_code == 400
    assert error_of(response) == "invalid_review"
    assert "Back to the review page" in response.text


# -- deciding -------------------------------------------------------------------------------------------


def test_approve_on_a_card_approves_exactly_that_sample(review_app, admin):
    ids = add_samples(review_app, [(k, k, 0.9) for k in range(4)])
    page = admin.get("/review?order=oldest")
    [card] = [f for f in forms_of(page.text).forms if ("decision", "approve", f"Approve sample {ids[1]}") in f.buttons]
    # Its own form, naming the sample and the label shown: boxes ticked elsewhere stay out.
    assert [v for k, v in card.fields if k == "ids"] == [f"{ids[1]}:1"]
    response = press(admin, page.text, f"Approve sample {ids[1]}")
    assert response.status_code == 303
    assert response.headers["Location"] == "/review?status=pending&order=oldest&page=1&done=approve&changed=1"
    assert statuses(review_app) == {ids[0]: "pending", ids[1]: "approved", ids[2]: "pending", ids[3]: "pending"}
    after = admin.get(response.headers["Location"])
    assert after.status_code == 200
    assert "1 sample approved." in after.text
    assert gallery_ids(after.text) == [ids[0], ids[2], ids[3]]


def test_reject_many_rejects_exactly_those(review_app, admin):
    ids = add_samples(review_app, [(k, k, 0.9) for k in range(5)])
    page = admin.get("/review?status=all&order=newest")
    response = press(admin, page.text, "Reject selected", check=[ids[0], ids[3], ids[4]])
    assert response.status_code == 303
    assert response.headers["Location"] == "/review?status=all&order=newest&page=1&done=reject&changed=3"
    assert statuses(review_app) == {
        ids[0]: "rejected",
        ids[1]: "pending",
        ids[2]: "pending",
        ids[3]: "rejected",
        ids[4]: "rejected",
    }
    assert "3 samples rejected." in admin.get(response.headers["Location"]).text


def test_a_rejected_sample_can_be_approved_after_all(review_app, admin):
    [one] = add_samples(review_app, [(4, 4, 0.8)])
    store_of(review_app).set_status([one], "rejected")
    page = admin.get("/review?status=rejected")
    response = press(admin, page.text, f"Approve sample {one}")
    assert response.status_code == 303
    assert statuses(review_app) == {one: "approved"}


def test_select_all_is_a_box_javascript_reveals(admin, review_app):
    add_samples(review_app, [(1, 1, 0.9)])
    page = admin.get("/review")
    assert page.status_code == 200
    assert re.search(r'<label class="select-all" id="select-all-label" hidden>', page.text)
    script = admin.get("/static/js/review.js")
    assert script.status_code == 200
    assert "#select-all" in script.text


def forged(client, html: str, ids: list[int], **changes):
    """The bulk form's fields with the boxes of samples ``ids`` ticked to approve, then ``changes``
    (None drops a field)."""
    bulk = forms_of(html).by_id["bulk"]
    fields = dict(bulk.fields)
    fields.update({k: v for k, v in changes.items() if v is not None})
    for k in [k for k, v in changes.items() if v is None]:
        fields.pop(k)
    ticked = [("ids", box) for box in bulk.boxes if box_id(box) in ids]
    assert len(ticked) == len(ids)
    return MultiDict([*fields.items(), *ticked, ("decision", "approve")])


@pytest.mark.parametrize(
    ("changes", "headers"),
    [
        ({"csrf": None}, {}),
        ({"csrf": "forged-token"}, {}),
        ({"csrf": ""}, {}),
        ({}, {"Origin": CROSS_SITE}),
        ({}, {"Origin": "null"}),
        ({}, {"Sec-Fetch-Site": "cross-site"}),
        ({}, {"Sec-Fetch-Site": "same-site"}),
        *[({}, headers) for headers in MALFORMED.values()],
    ],
    ids=[
        "no-csrf",
        "wrong-csrf",
        "empty-csrf",
        "cross-site-origin",
        "null-origin",
        "cross-site",
        "same-site",
        *MALFORMED,
    ],
)
def test_a_forged_cross_site_decision_changes_nothing(review_app, admin, changes, headers):
    ids = add_samples(review_app, [(1, 1, 0.9), (2, 2, 0.9)])
    page = admin.get("/review")
    before = statuses(review_app)
    response = admin.post("/review/decide", data=forged(admin, page.text, ids, **changes), headers=headers)
    assert response.status_code == 403
    assert error_of(response) == "csrf_failed"
    assert statuses(review_app) == before == dict.fromkeys(ids, "pending")
    assert signed_in(admin)  # the session itself is untouched


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"},
        {"Origin": "https://localhost"},  # https at a proxy in front, http here
        # What Chromium sends from the page itself under Referrer-Policy: no-referrer.
        {"Origin": "null", "Sec-Fetch-Site": "same-origin"},
    ],
    ids=["no-headers", "same-origin", "https-origin", "null-origin-same-site"],
)
def test_the_same_decision_from_the_page_itself_goes_through(review_app, admin, headers):
    """The forgery test's control: the same request, with the page's token and its own origin, works."""
    ids = add_samples(review_app, [(1, 1, 0.9), (2, 2, 0.9)])
    page = admin.get("/review")
    response = admin.post("/review/decide", data=forged(admin, page.text, ids), headers=headers)
    assert response.status_code == 303
    assert statuses(review_app) == dict.fromkeys(ids, "approved")


def test_a_forged_sign_out_signs_nobody_out(admin):
    response = admin.post("/review/sign-out", data={"csrf": "forged"}, headers={"Origin": CROSS_SITE})
    assert response.status_code == 403
    assert error_of(response) == "csrf_failed"
    assert signed_in(admin)


FOREIGN_POSTS = {
    "sign-in": ("/review/sign-in", {"token": TOKEN, "csrf": "from-elsewhere"}),
    "sign-out": ("/review/sign-out", {"csrf": "from-elsewhere"}),
    "decide": ("/review/decide", {"csrf": "from-elsewhere", "ids": "1:1", "decision": "approve"}),
}


@pytest.mark.parametrize(("path", "fields"), list(FOREIGN_POSTS.values()), ids=list(FOREIGN_POSTS))
@pytest.mark.parametrize(
    "headers",
    [{"Origin": CROSS_SITE, "Sec-Fetch-Site": "cross-site"}, {"Origin": CROSS_SITE}, MALFORMED["origin-bad-ipv6"]],
    ids=["cross-site", "origin-only", "malformed-origin"],
)
def test_a_post_from_another_site_sets_no_cookie_and_signs_nobody_out(review_app, admin, path, fields, headers):
    """The browser withholds the SameSite=Strict cookie from another site's form: a cookie in the answer
    would replace the person's own and sign them out. (A fresh client stands for that browser.)"""
    ids = add_samples(review_app, [(1, 1, 0.9)])
    withheld = review_app.test_client()
    response = withheld.post(path, data=fields, headers=headers)
    assert response.status_code == 403
    assert error_of(response) == "csrf_failed"
    assert "Set-Cookie" not in response.headers
    assert "<form" not in response.text and 'name="csrf"' not in response.text
    assert "This form was sent from another site" in response.text
    # A browser that sends the cookie anyway is answered the same, and stays signed in.
    with_cookie = admin.post(path, data=fields, headers=headers)
    assert with_cookie.status_code == 403
    assert error_of(with_cookie) == "csrf_failed"
    assert "Set-Cookie" not in with_cookie.headers
    assert "<form" not in with_cookie.text
    assert signed_in(admin)
    assert statuses(review_app) == {ids[0]: "pending"}


def test_deciding_signed_out_is_refused(review_app):
    ids = add_samples(review_app, [(1, 1, 0.9)])
    client = review_app.test_client()
    page = client.get("/review")
    response = client.post(
        "/review/decide", data={"csrf": csrf_of(page.text), "ids": str(ids[0]), "decision": "approve"}
    )
    assert response.status_code == 403
    assert error_of(response) == "signed_out"
    assert 'name="token"' in response.text  # the sign-in form, to go on from
    assert statuses(review_app) == {ids[0]: "pending"}


@pytest.mark.parametrize(
    ("ids", "decision", "status", "code"),
    [
        ([], "approve", 400, "invalid_review"),
        (["abc"], "approve", 400, "invalid_review"),
        (["1"], "approve", 400, "invalid_review"),  # an id without the label shown
        (["0:1"], "approve", 400, "invalid_review"),
        (["-1:1"], "approve", 400, "invalid_review"),
        (["1.0:1"], "approve", 400, "invalid_review"),
        (["9" * 30 + ":1"], "approve", 400, "invalid_review"),
        ([f"{2**63}:1"], "approve", 400, "invalid_review"),
        (["9" * 5000 + ":1"], "approve", 400, "invalid_review"),  # past int()'s digit limit
        (["1:10"], "approve", 400, "invalid_review"),
        (["1:"], "approve", 400, "invalid_review"),
        (["1:1:1"], "approve", 400, "invalid_review"),
        (["\uff11:1"], "approve", 400, "invalid_review"),  # a fullwidth digit
        (["1:\u0661"], "approve", 400, "invalid_review"),  # an Arabic-Indic digit
        (["1:1", "1:2"], "approve", 400, "invalid_review"),  # one sample, two labels
        (["1:1"], "delete", 400, "invalid_review"),
        (["1:1"], "", 400, "invalid_review"),
        ([f"{k}:1" for k in range(1, review.MAX_IDS + 2)], "approve", 400, "too_many_ids"),
        ([f"{k % 3 + 1}:1" for k in range(3000)], "reject", 413, "too_large"),
    ],
    ids=[
        "none",
        "word",
        "no-label",
        "zero",
        "negative",
        "float",
        "huge",
        "2-to-the-63",
        "past-int-limit",
        "label-10",
        "empty-label",
        "three-parts",
        "fullwidth-id",
        "arabic-indic-label",
        "two-labels",
        "delete",
        "no-decision",
        "too-many",
        "flood",
    ],
)
def test_a_decision_the_page_cannot_send_is_a_clear_4xx_and_changes_nothing(
    review_app, admin, ids, decision, status, code
):
    add_samples(review_app, [(1, 1, 0.9)] * 3)
    page = admin.get("/review")
    fields = dict(forms_of(page.text).by_id["bulk"].fields)
    data = MultiDict([*fields.items(), *[("ids", i) for i in ids], ("decision", decision)])
    response = admin.post("/review/decide", data=data)
    assert response.status_code == status
    assert error_of(response) == code
    assert response.mimetype == "text/html"
    assert statuses(review_app) == dict.fromkeys([1, 2, 3], "pending")


def test_a_label_given_after_the_page_was_loaded_is_not_approved_unseen(review_app, admin):
    """A visitor may re-send a reading's sample token (valid for a day) with another label while the
    reviewer looks at the page: the decision binds to the label shown, and the page says what changed."""
    visitor = review_app.test_client()
    tokens = []
    for digit in "710":
        reading = visitor.post("/predict", data=drawn_digit(digit), content_type="image/png")
        assert reading.status_code == 200
        tokens.append(reading.get_json()["sample"])
    ids = []
    for token, label in zip(tokens, [7, 1, 0]):
        given = visitor.post("/api/feedback", json={"sample": token, "label": label})
        assert given.status_code == 201
        ids.append(given.get_json()["id"])
    page = admin.get("/review?order=oldest")
    assert page.status_code == 200
    relabelled = visitor.post("/api/feedback", json={"sample": tokens[1], "label": 8})
    assert relabelled.status_code == 201 and relabelled.get_json()["id"] == ids[1]

    response = press(admin, page.text, "Approve selected", check=ids)
    assert response.status_code == 303
    assert response.headers["Location"] == "/review?status=pending&order=oldest&page=1&done=approve&changed=2&stale=1"
    assert statuses(review_app) == {ids[0]: "approved", ids[1]: "pending", ids[2]: "approved"}
    after = admin.get(response.headers["Location"])
    assert after.status_code == 200
    assert "2 samples approved." in after.text
    assert re.search(
        r'<p class="message review-stale" id="review-stale" data-kind="error" role="alert">'
        r"1 sample changed since you loaded the page: look again.</p>",
        after.text,
    )
    assert gallery_ids(after.text) == [ids[1]]
    assert '<dd class="sample-label">8</dd>' in after.text  # shown now as it is

    # The card's own button on the old page is bound the same way; on the page as it is now it works.
    old_card = press(admin, page.text, f"Reject sample {ids[1]}")
    assert old_card.status_code == 303
    assert old_card.headers["Location"].endswith("done=reject&changed=0&stale=1")
    assert statuses(review_app)[ids[1]] == "pending"
    new_card = press(admin, after.text, f"Reject sample {ids[1]}")
    assert new_card.status_code == 303
    assert new_card.headers["Location"].endswith("done=reject&changed=1")
    assert statuses(review_app)[ids[1]] == "rejected"
    assert "review-stale" not in admin.get(new_card.headers["Location"]).text


@pytest.mark.parametrize(
    ("query", "done", "stale"),
    [
        ("done=approve&changed=2&stale=1", "2 samples approved.", "1 sample changed"),
        ("done=approve&changed=%EF%BC%91", None, None),  # a fullwidth 1
        ("done=approve&changed=" + "9" * 5000, None, None),
        ("done=delete&changed=1&stale=1", None, None),
        ("done=reject&changed=1&stale=%D9%A1", "1 sample rejected.", None),  # an Arabic-Indic 1
        ("done=reject&changed=1&stale=0", "1 sample rejected.", None),
        ("stale=3", None, None),
    ],
)
def test_only_an_outcome_the_page_itself_sends_is_shown(review_app, admin, query, done, stale):
    add_samples(review_app, [(1, 1, 0.9)])
    response = admin.get(f"/review?{query}")
    assert response.status_code == 200
    found = re.search(r'id="review-done" role="status">([^<]*)<', response.text)
    assert (found and found.group(1)) == (done or None)
    found = re.search(r'id="review-stale" data-kind="error" role="alert">([^<]*)<', response.text)
    assert (found is not None) == (stale is not None)
    assert stale is None or found.group(1).startswith(stale)


def test_ids_of_no_sample_are_ignored(review_app, admin):
    [one] = add_samples(review_app, [(1, 1, 0.9)])
    page = admin.get("/review")
    fields = dict(forms_of(page.text).by_id["bulk"].fields)
    response = admin.post(
        "/review/decide",
        data=MultiDict([*fields.items(), ("ids", f"{one}:1"), ("ids", "999:1"), ("decision", "approve")]),
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith("done=approve&changed=1")
    assert statuses(review_app) == {one: "approved"}


# -- when the store cannot be used ----------------------------------------------------------------------


def test_a_database_that_cannot_be_read_is_a_503_page(tmp_path):
    app = make_app(tmp_path, FEEDBACK_DB=f"file:{tmp_path}/no/such/folder/f.sqlite?mode=ro")
    client = app.test_client()
    assert sign_in(client).status_code == 303
    response = client.get("/review")
    assert response.status_code == 503
    assert error_of(response) == "review_unavailable"
    assert "The feedback database cannot be used right now" in response.text
    assert response.mimetype == "text/html"


# The first schema's table (model/feedback.py before review states): no status, no confidence, user_version 0.
FIRST_SCHEMA = f"""
CREATE TABLE samples (
    id INTEGER PRIMARY KEY, sample_id TEXT NOT NULL UNIQUE, created TEXT NOT NULL, model TEXT NOT NULL,
    prediction INTEGER NOT NULL, label INTEGER NOT NULL, pixels BLOB NOT NULL CHECK (length(pixels) = {PIXELS})
)
"""


def first_schema_database(path: Path, readings: list[tuple[int, int]]) -> Path:
    """A database of the first schema with one sample per (prediction, label), oldest first."""
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute(FIRST_SCHEMA)
        db.executemany(
            "INSERT INTO samples (sample_id, created, model, prediction, label, pixels) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (f"old{k}", f"2024-05-0{k + 1}T12:00:00+00:00", "digits", read, label, picture(k).tobytes())
                for k, (read, label) in enumerate(readings)
            ],
        )
    return path


def test_a_read_only_first_schema_database_is_shown_all_pending_and_a_decision_is_a_503(tmp_path):
    path = first_schema_database(tmp_path / "old.sqlite", [(3, 3), (1, 7)])
    app = make_app(tmp_path, FEEDBACK_DB=f"file:{path}?mode=ro")
    client = app.test_client()
    assert sign_in(client).status_code == 303
    page = client.get("/review")
    assert page.status_code == 200
    assert gallery_ids(page.text) == [2, 1]
    counts = dict(re.findall(r'<span class="count" data-status="(\w+)">(\d+)</span>', page.text))
    assert counts == {"pending": "2", "approved": "0", "rejected": "0", "all": "2"}
    assert '<dd class="sample-confidence">unknown</dd>' in card_of(page.text, 2)
    assert client.get("/review?order=disagreements&status=all").status_code == 200
    response = press(client, page.text, "Approve sample 1")
    assert response.status_code == 503
    assert error_of(response) == "review_unavailable"
    assert response.mimetype == "text/html"
    assert "The feedback database cannot be used right now" in response.text and "readonly" in response.text
    assert "until then it can be read, not changed" in response.text
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 0
        assert [row[1] for row in db.execute("PRAGMA table_info(samples)")][-1] == "pixels"


# -- the same headers as the drawing page ---------------------------------------------------------------


class References(HTMLParser):
    """What a page loads (script src, link href, img src) and any inline script, style or handler."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            self.urls.append(a["src"]) if a.get("src") else self.inline.append("<script> without src")
        if tag == "style":
            self.inline.append("<style>")
        if tag == "link" and a.get("href"):
            self.urls.append(a["href"])
        if tag == "img" and a.get("src") and not a["src"].startswith("data:"):
            self.urls.append(a["src"])
        self.inline += [f"{tag} {name}=" for name in a if name == "style" or name.startswith("on")]


def as_admin(client, path: str):
    assert sign_in(client).status_code == 303
    return client.get(path)


def gallery_of_one(client, app):
    add_samples(app, [(1, 2, 0.7)])
    return as_admin(client, "/review")


PAGES = {
    "sign-in": lambda c, app: c.get("/review"),
    "gallery": gallery_of_one,
    "wrong-token": lambda c, app: sign_in(c, "wrong-token-0123456789"),
    "csrf": lambda c, app: c.post("/review/sign-out", data={"csrf": "x"}),
    "bad-filter": lambda c, app: as_admin(c, "/review?status=nope"),
}


@pytest.mark.parametrize("send", list(PAGES.values()), ids=list(PAGES))
def test_review_pages_have_the_drawing_pages_headers_and_no_inline_code(review_app, send):
    client = review_app.test_client()
    drawing = client.get("/")
    response = send(client, review_app)
    assert drawing.status_code == 200 and response.status_code in (200, 400, 403)
    assert response.mimetype == "text/html"
    for name, value in HEADERS.items():
        assert response.headers[name] == value == drawing.headers[name]
    assert response.headers["Cache-Control"] == "no-store"
    refs = References()
    refs.feed(response.text)
    assert refs.inline == []
    assert any(u.endswith(".css") for u in refs.urls) and any(u.endswith(".js") for u in refs.urls)
    for url in refs.urls:
        asset = client.get(url)
        assert asset.status_code == 200, url


# -- every review error, met ------------------------------------------------------------------------------


def many_ids(client, app):
    csrf = csrf_of(as_admin(client, "/review").text)
    ids = [("ids", f"{k}:1") for k in range(1, review.MAX_IDS + 2)]
    return client.post("/review/decide", data=MultiDict([("csrf", csrf), *ids, ("decision", "approve")]))


PROVOKE = {
    "invalid_review": lambda c, app: as_admin(c, "/review?order=random"),
    "too_many_ids": many_ids,
    "sign_in_failed": lambda c, app: sign_in(c, "not-the-token-0123456789"),
    "csrf_failed": lambda c, app: c.post("/review/sign-in", data={"token": TOKEN}),
    "signed_out": lambda c, app: c.post("/review/decide", data={"csrf": csrf_of(c.get("/review").text)}),
    "review_unavailable": lambda c, app: as_admin(c, "/review"),
}


def test_every_review_error_has_a_request_that_meets_it():
    assert set(PROVOKE) == {e.code for e in ERRORS if e.scope == "review"}


@pytest.mark.parametrize("code", sorted(PROVOKE))
def test_every_review_error_is_answered_as_declared_as_html(tmp_path, code):
    config = {"FEEDBACK_DB": f"file:{tmp_path}/missing/f.sqlite?mode=ro"} if code == "review_unavailable" else {}
    app = make_app(tmp_path, **config)
    response = PROVOKE[code](app.test_client(), app)
    assert response.status_code == BY_CODE[code].status
    assert error_of(response) == code
    assert response.mimetype == "text/html"
    assert re.search(
        r'<p class="message review-message" id="review-error" data-kind="error" role="alert">\S', response.text
    )
