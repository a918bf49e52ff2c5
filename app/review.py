"""The review page at ``/review``: a person holding ``DIGITS_ADMIN_TOKEN`` approves or rejects the
feedback samples before the trainer may learn from them (``model.feedback``: new samples are
``pending``; ``--extra`` trains on ``approved`` ones).

Only there when ``ADMIN_TOKEN`` is set: ``init_app`` registers the blueprint then and only then, so
without it every ``/review`` path is the app's ordinary 404, like any unknown path.

- ``GET /review``: signed out, the sign-in form; signed in, the gallery of samples (filters by
  status, an order, pages of ``PER_PAGE``).
- ``POST /review/sign-in`` (field ``token``, rate-limited as ``sign_in``), ``POST /review/sign-out``,
  ``POST /review/decide`` (fields ``ids``, one or many, each ``ID:LABEL``: a sample's id and the
  label the page showed for it; and ``decision``: approve or reject). A decision binds to what was
  shown: a sample whose label was changed since (a visitor may re-send a reading's token, valid for
  ``DIGITS_SAMPLE_MAX_AGE``, with another label) is left pending, and the page says how many.

Signed in is Flask's signed session cookie (its own name, ``Path=/review``, HttpOnly,
SameSite=Strict, Secure over HTTPS, ``SESSION_HOURS`` from sign-in) holding a mark of the admin
token. Nothing is kept on the server, so signing out drops the cookie from this browser but cannot
revoke a copy of it: a copied cookie works until ``SESSION_HOURS`` after its sign-in, and changing
``DIGITS_ADMIN_TOKEN`` (then restarting) ends every session at once.

Cross-site requests: every POST is refused (403 ``csrf_failed``) when the browser's ``Origin`` or
``Sec-Fetch-Site`` says, or fails to say clearly, that it comes from this site, before anything
else looks at it (so another site's form cannot spend the sign-in budget either); then it must
carry the session's CSRF token in a hidden field. The answer to a request from another site holds
no form, so it makes no session and sets no cookie that would replace the person's own. Errors are
the review page with the error's status and message (HTML, unlike the rest of the app).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import math
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from flask import Blueprint, Flask, Request, Response, current_app, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionInterface, SessionMixin
from werkzeug.exceptions import HTTPException

from app import cooperative, ratelimit, settings
from app.errors import BY_CODE, HTTP_ERRORS, ApiError, fail
from model import preprocess
from model.feedback import APPROVED, ORDERS, PENDING, REJECTED, STATUSES, FeedbackError, FeedbackStore, StoredSample

bp = Blueprint("review", __name__, url_prefix="/review")

PER_PAGE = 48
# "Select all" selects one page; a decision on more than that was not made on this page.
MAX_IDS = PER_PAGE
# A decision on a full page is about 1 KiB of form; anything much bigger is not this page's.
MAX_BODY = 16 * 1024
SESSION_HOURS = 4
COOKIE = "digits_review"
ALL = "all"  # the filter that shows every status
STATUS_FILTERS = (*STATUSES, ALL)
DECISIONS = {"approve": APPROVED, "reject": REJECTED}
ORDER_NAMES = {"newest": "Newest first", "oldest": "Oldest first", "disagreements": "Disagreements first"}
# Ids are SQLite row ids: positive 64-bit integers.
MAX_ROW_ID = 2**63 - 1
# One sample as a decision names it: its id and the label shown, "ID:LABEL" (ASCII digits only).
SHOWN = re.compile(r"([0-9]{1,19}):([0-9])")
# A serialized origin as browsers send it: scheme "://" host [":" port], nothing more.
ORIGIN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://([^/?#@\s\\]+)")


class ReviewSessions(SecureCookieSessionInterface):
    """Flask's signed cookie session under a salt of its own; Secure whenever the request came over
    HTTPS (directly, or as trusted proxies report it), so that plain-HTTP local use still works."""

    salt = "digits.review.session"

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        # Most requests are readings, which carry no cookie: no signer is made for them.
        if app.config["SESSION_COOKIE_NAME"] not in request.cookies:
            return SecureCookieSession()
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(super().get_cookie_secure(app) or request.is_secure)


class NoSessions(SessionInterface):
    """Without the review page no request has a session: Flask's null session, which refuses
    to be written, and no cookie read or signer made."""

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        return self.make_null_session(app)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        return None


def init_app(app: Flask) -> None:
    """Serve the review page if ``ADMIN_TOKEN`` is set; raises ``SettingsError`` for a token too short."""
    token = app.config.get("ADMIN_TOKEN")
    if token is None:
        app.session_interface = NoSessions()
        return
    if not isinstance(token, str):
        raise settings.SettingsError(f"ADMIN_TOKEN must be a string, not {type(token).__name__}")
    try:
        token = settings.admin_token(token)
    except ValueError as e:
        raise settings.SettingsError(f"DIGITS_ADMIN_TOKEN {e}") from None
    app.config.update(
        ADMIN_TOKEN=token,  # as the setting parses it, from wherever it came
        SESSION_COOKIE_NAME=COOKIE,
        SESSION_COOKIE_PATH="/review",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=SESSION_HOURS),
        # The cookie is written at sign-in and not again, so the session ends SESSION_HOURS after it.
        SESSION_REFRESH_EACH_REQUEST=False,
    )
    app.session_interface = ReviewSessions()
    app.register_blueprint(bp)


# -- requests -----------------------------------------------------------------------------------------


@bp.before_request
def guard_the_posts() -> None:
    # Read by werkzeug's form parser, which answers 413 past these (error handlers below).
    request.max_content_length = MAX_BODY
    request.max_form_parts = MAX_IDS + 16
    # A chunked body: werkzeug reads it only up to max_content_length and would parse the cut form
    # as if whole. Read it here (the form parser then uses this copy) and refuse it at the limit.
    chunked = request.method == "POST" and request.content_length is None
    if chunked and len(request.get_data(cache=True)) >= MAX_BODY:
        fail("too_large", f"the request body is too large: at most {MAX_BODY:,} bytes here")
    # Before any view looks at a POST or counts it against a budget: from the headers alone.
    if request.method == "POST" and not _from_this_site():
        fail("csrf_failed", "This form was sent from another site: the review page only takes its own forms.")


@bp.after_request
def never_cache(response: Response) -> Response:
    # The gallery, the CSRF token in every form: nothing a shared cache or the back button should keep.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("")
def page() -> tuple[str, int]:
    """The sign-in form, or once signed in the gallery that the query's filters pick."""
    if not _signed_in():
        if request.headers.get("Sec-Fetch-Site") == "cross-site":
            # Followed from another site, the browser withheld the SameSite=Strict cookie: a new session
            # here would replace it and sign the person out. A link on this site brings it along.
            return _render("continue")
        return _render("sign_in")
    return _gallery(_filters(request.args))


@bp.post("/sign-in")
def sign_in() -> Response | tuple[str, int]:
    """A fresh signed-in session for the right token; the form again, 403, for any other."""
    _check_csrf()
    # Counted once the request is known to be this site's own form (a foreign one never gets here):
    # a guesser gets a CSRF token with the form, so the budget still holds every guess.
    ratelimit.spend("sign_in")
    given = request.form.get("token", "")
    if not hmac.compare_digest(given.encode(), current_app.config["ADMIN_TOKEN"].encode()):
        fail("sign_in_failed", "That is not the admin token: sign-in failed.")
    session.clear()
    session.permanent = True
    session["csrf"] = secrets.token_urlsafe(32)
    session["admin"] = _admin_mark()
    return redirect(url_for("review.page"), code=303)


@bp.post("/sign-out")
def sign_out() -> Response:
    _check_csrf()
    session.clear()  # Flask then tells the browser to drop the cookie
    return redirect(url_for("review.page"), code=303)


@bp.post("/decide")
def decide() -> Response:
    """Approve or reject the samples ``ids`` that still have the label shown; back to the gallery as
    it was filtered, saying how many changed and how many had been re-labelled meanwhile."""
    if not _signed_in():
        fail("signed_out", f"You are signed out (a session lasts {SESSION_HOURS} hours): sign in again, then decide.")
    _check_csrf()
    filters = _filters(request.form)
    decision = request.form.get("decision", "")
    if decision not in DECISIONS:
        fail("invalid_review", "The decision must be approve or reject.")
    shown = _shown(request.form.getlist("ids"))
    store: FeedbackStore = current_app.extensions["digits.feedback"]
    # SQLite may wait for another writer's lock: not on the thread serving the other requests.
    decided = cooperative.off_event_loop(store.decide, shown, DECISIONS[decision], blocking=store.blocks_event_loop)
    outcome = {"done": decision, "changed": decided.changed}
    if decided.stale:
        outcome["stale"] = len(decided.stale)
    return redirect(url_for("review.page", **filters.query(), **outcome), code=303)


# -- checks -------------------------------------------------------------------------------------------


def _admin_mark() -> str:
    """What a signed-in session holds: tied to the admin token (changing it signs everyone out),
    never the token itself."""
    token = current_app.config["ADMIN_TOKEN"].encode()
    return hmac.new(token, b"digits review session", hashlib.sha256).hexdigest()


def _signed_in() -> bool:
    mark = session.get("admin")
    return isinstance(mark, str) and hmac.compare_digest(mark.encode(), _admin_mark().encode())


def csrf_token() -> str:
    """The session's CSRF token, made on first use (the sign-in form needs one before signing in)."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session.permanent = True
        session["csrf"] = token
    return token


def _no_token() -> NoReturn:
    raise RuntimeError("a page answering another site's request has no forms: it must not make a CSRF token")


def _check_csrf() -> None:
    expected = session.get("csrf")
    given = request.form.get("csrf", "")
    if not isinstance(expected, str) or not hmac.compare_digest(given.encode(), expected.encode()):
        fail(
            "csrf_failed",
            "This form is out of date or was not sent from the review page: reload the page and try again.",
        )


def _from_this_site() -> bool:
    """Whether the browser's ``Sec-Fetch-Site`` and ``Origin`` headers, those it sends, say this site;
    any value that is not plainly this site's (malformed ones too) says another.

    ``Origin``'s host is compared, not its scheme: behind a TLS-terminating proxy the app may see
    http for an https page. Under this app's ``Referrer-Policy: no-referrer`` (app.security) a
    browser's POST says ``Origin: null`` even from the page itself, so ``null`` counts only beside a
    same-origin ``Sec-Fetch-Site``.
    """
    fetched_from = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    if fetched_from not in (None, "same-origin", "none"):
        return False
    if origin is None:
        return True
    if origin == "null":
        return fetched_from is not None
    # Matched, never parsed: a parser's idea of a malformed origin (an unclosed "[") is not this site.
    match = ORIGIN.fullmatch(origin)
    return match is not None and match.group(1).lower() == request.host.lower()


@dataclass(frozen=True)
class Filters:
    status: str = PENDING
    order: str = "newest"
    page: int = 1

    def query(self, **changes: Any) -> dict[str, Any]:
        """The gallery's query parameters for these filters, with ``changes``."""
        return {"status": self.status, "order": self.order, "page": self.page, **changes}


def _filters(values: Mapping[str, str]) -> Filters:
    status = values.get("status", PENDING)
    order = values.get("order", "newest")
    page = values.get("page", "1")
    if status not in STATUS_FILTERS:
        fail("invalid_review", f"The status must be one of {', '.join(STATUS_FILTERS)}.")
    if order not in ORDERS:
        fail("invalid_review", f"The order must be one of {', '.join(ORDERS)}.")
    if not (page.isascii() and page.isdigit() and 0 < len(page) <= 9 and int(page) >= 1):
        fail("invalid_review", "The page must be a whole number from 1.")
    return Filters(status, order, int(page))


def _shown(values: list[str]) -> dict[int, int]:
    """The samples a decision names, ``ID:LABEL`` each: row id -> the label the page showed."""
    if not values:
        fail("invalid_review", "Choose at least one sample to approve or reject.")
    if len(values) > MAX_IDS:
        fail("too_many_ids", f"At most {MAX_IDS} samples at once (one page); {len(values)} were sent.")
    shown: dict[int, int] = {}
    for value in values:
        match = SHOWN.fullmatch(value)
        if match is None or not 0 < int(match[1]) <= MAX_ROW_ID:
            fail("invalid_review", "Each sample must be sent as ID:LABEL, its number and the label the page showed.")
        i, label = int(match[1]), int(match[2])
        if shown.setdefault(i, label) != label:
            fail("invalid_review", f"Sample {i} was sent with two labels: send each as the page showed it.")
    return shown


# -- the page -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Card:
    """One sample as the gallery shows it."""

    id: int
    picture: str  # a data: URL of the 28x28 PNG
    label: int
    prediction: int
    confidence: str
    model: str
    created: str  # ISO 8601, for <time datetime>
    created_text: str
    status: str

    disagrees: bool  # as the store says, at the app's LOW_CONFIDENCE: what "disagreements first" puts first


def card(sample: StoredSample) -> Card:
    """``sample`` ready to show; its pixels are (28, 28) uint8, 0-255."""
    png = preprocess.to_png(sample.pixels / 255.0)
    confidence = "unknown" if sample.confidence is None else f"{sample.confidence:.0%}"
    return Card(
        id=sample.id,
        picture="data:image/png;base64," + base64.b64encode(png).decode("ascii"),
        label=sample.label,
        prediction=sample.prediction,
        confidence=confidence,
        model=sample.model,
        created=sample.created,
        created_text=_when(sample.created),
        status=sample.status,
        disagrees=sample.disagrees,
    )


def _when(created: str) -> str:
    try:
        moment = dt.datetime.fromisoformat(created)
    except ValueError:
        return created
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _gallery(filters: Filters) -> tuple[str, int]:
    store: FeedbackStore = current_app.extensions["digits.feedback"]
    counts = cooperative.off_event_loop(store.counts, blocking=store.blocks_event_loop)
    counts = {**counts, ALL: sum(counts.values())}
    pages = max(1, math.ceil(counts[filters.status] / PER_PAGE))
    # Deciding on the last page's samples can empty it: show the new last page instead.
    filters = Filters(filters.status, filters.order, min(filters.page, pages))
    status = None if filters.status == ALL else filters.status
    offset = (filters.page - 1) * PER_PAGE
    # The same threshold for the badge and the order: the store computes both with it.
    confident = current_app.config["LOW_CONFIDENCE"]
    samples = cooperative.off_event_loop(
        store.samples, status, filters.order, PER_PAGE, offset, confident, blocking=store.blocks_event_loop
    )
    return _render(
        "gallery",
        filters=filters,
        counts=counts,
        pages=pages,
        cards=[card(s) for s in samples],
        done=_done(),
        stale=_stale(),
    )


def _count_arg(name: str) -> int | None:
    """A count from the redirect's query (so the page needs no session flash); None if it is not one."""
    value = request.args.get(name, "")
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 6 else None


def _samples(n: int) -> str:
    return f"{n} sample{'' if n == 1 else 's'}"


def _done() -> str | None:
    """What the last decision did."""
    decision, changed = request.args.get("done"), _count_arg("changed")
    if decision not in DECISIONS or changed is None:
        return None
    return f"{_samples(changed)} {DECISIONS[decision]}."


def _stale() -> str | None:
    """How many samples the last decision left alone because their label had changed since the page showed it."""
    stale = _count_arg("stale")
    if request.args.get("done") not in DECISIONS or not stale:
        return None
    return f"{_samples(stale)} changed since you loaded the page: look again."


def _render(view: str, status: int = 200, *, forms: bool = True, **context: Any) -> tuple[str, int]:
    """The page as ``view``; ``forms`` false for an answer to another site's request: no form, no token."""
    return render_template(
        "review.html",
        view=view,
        signed_in=_signed_in(),
        forms=forms,
        # Called by the forms that need it: a page without forms leaves the session (and cookie) alone.
        csrf_token=csrf_token if forms else _no_token,
        statuses=STATUS_FILTERS,
        all_status=ALL,
        orders=ORDER_NAMES,
        session_hours=SESSION_HOURS,
        **context,
    ), status


# -- errors: the review page, with the error's status -------------------------------------------------

# Errors after which the sign-in form is what a signed-out person needs next.
SIGN_IN_AGAIN = {"sign_in_failed", "csrf_failed", "signed_out", "rate_limited"}


def _error_page(code: str, message: str, headers: Mapping[str, str] | None = None) -> Response:
    # Another site's request never gets a form: the sign-in form would make a session, and its cookie
    # would replace the one the browser withheld (SameSite=Strict), signing the person out.
    forms = _from_this_site()
    view = "sign_in" if forms and code in SIGN_IN_AGAIN and not _signed_in() else "error"
    html, status = _render(view, BY_CODE[code].status, forms=forms, error_code=code, error=message)
    response = current_app.make_response((html, status))
    response.headers.update(headers or {})
    return response


@bp.errorhandler(ApiError)
def api_error(e: ApiError) -> Response:
    return _error_page(e.error.code, e.message, e.headers)


@bp.errorhandler(FeedbackError)
def store_error(e: FeedbackError) -> Response:
    current_app.logger.error("review: feedback database: %s", e)
    return _error_page("review_unavailable", f"The feedback database cannot be used right now: {e}")


@bp.errorhandler(HTTPException)
def http_error(e: HTTPException) -> Response:
    code = HTTP_ERRORS.get(e.code or 500)
    if code is None:  # not one the app answers by design; the status and its name as they are
        html, status = _render("error", e.code or 500, forms=_from_this_site(), error_code=None, error=e.name)
        return current_app.make_response((html, status))
    if code == "too_large":
        message = f"The form is too large: the review page sends at most {MAX_BODY:,} bytes."
    else:
        message = e.description or e.name
    return _error_page(code, message)
