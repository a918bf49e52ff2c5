"""Every error the app answers, declared once: its code, HTTP status and meaning.

The handlers below, the OpenAPI document (``app.openapi``) and the README's error table
(``scripts/readme_tables.py``) all read ``ERRORS``; nothing else spells a status for a code.
Every error has one JSON shape, ``{"error": {"code": ..., "message": ...}}``, and its message
says what was wrong in words a person can act on (it never echoes the upload).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, NoReturn

from flask import Flask, Response, current_app, g, has_request_context, jsonify
from werkzeug.exceptions import HTTPException

from app.explain import QUERY_VALUES
from model.feedback import FeedbackError
from model.preprocess import ImageError, ImageTooLarge, NoDigitFound, UnreadableImage
from model.segment import MAX_DIGITS, TooManyDigits

try:  # gunicorn's errors for a body it cannot de-chunk; another server has its own
    from gunicorn.http.errors import ParseException as BrokenBody
except ImportError:  # pragma: no cover - serving without gunicorn

    class BrokenBody(Exception):  # type: ignore[no-redef]
        """Never raised: stands in for gunicorn's body parse errors."""


# Which requests can meet an error: any request, one that sends an image (/predict, /api/explain,
# /api/read), one to /predict alone, one that reads a whole number (/api/read), one that sends
# feedback (/api/feedback), or one of the review page (/review, answered as HTML
# by app.review and so not in the OpenAPI document), or one with a rate limit (/predict, /api/explain,
# /api/feedback and the review page's sign-in: app.ratelimit).
Scope = Literal["any", "image", "predict", "number", "feedback", "review", "limited"]


@dataclass(frozen=True)
class ErrorCode:
    code: str
    status: int
    scope: Scope
    meaning: str  # when it is answered, as the README and the OpenAPI document say it


ERRORS: tuple[ErrorCode, ...] = (
    ErrorCode("bad_request", 400, "any", "the body cannot be read: its chunked encoding is broken"),
    ErrorCode("invalid_json", 400, "any", "the body is not a JSON object"),
    ErrorCode("missing_field", 400, "any", "no `image` (or feedback without `sample` or `label`)"),
    ErrorCode("invalid_image", 400, "image", "not an image, or a truncated or corrupt one"),
    ErrorCode("invalid_field", 400, "image", "`image` in the JSON body is not a string"),
    ErrorCode("invalid_base64", 400, "image", "`image` is not valid base64"),
    ErrorCode("invalid_data_url", 400, "image", "`image` is a malformed data URL, or one not in base64"),
    ErrorCode("too_many_files", 400, "image", "the form has more than one `image` file"),
    ErrorCode("unknown_model", 400, "image", "`?model=` names no model this server has"),
    ErrorCode(
        "invalid_parameter",
        400,
        "predict",
        "`/predict?explain=` is not one of " + ", ".join(f"`{value}`" for value in QUERY_VALUES),
    ),
    ErrorCode("invalid_label", 400, "feedback", "`label` is not a digit, an integer from 0 to 9"),
    ErrorCode("invalid_sample", 400, "feedback", "`sample` is not a token this server signed, or it was altered"),
    ErrorCode("expired_sample", 400, "feedback", "`sample` is older than `DIGITS_SAMPLE_MAX_AGE` (a day by default)"),
    ErrorCode(
        "invalid_review",
        400,
        "review",
        "a review request whose ids, decision, status, order or page is not one the review page offers",
    ),
    ErrorCode("too_many_ids", 400, "review", "a review decision on more samples at once than a page of the gallery"),
    ErrorCode("sign_in_failed", 403, "review", "a review page sign-in with a token other than `DIGITS_ADMIN_TOKEN`"),
    ErrorCode(
        "csrf_failed",
        403,
        "review",
        "a review form sent without its page's CSRF token, or from another site (`Origin`, `Sec-Fetch-Site`)",
    ),
    ErrorCode(
        "signed_out",
        403,
        "review",
        "a review action without a signed-in session (none, expired, or of another admin token)",
    ),
    ErrorCode("not_found", 404, "any", "no such path"),
    ErrorCode("method_not_allowed", 405, "any", "the path does not take this method (see the `Allow` header)"),
    ErrorCode(
        "request_timeout",
        408,
        "any",
        "the body did not arrive within `DIGITS_REQUEST_TIMEOUT` seconds of the headers (a client sending it too "
        "slowly); the connection is closed",
    ),
    ErrorCode(
        "too_large",
        413,
        "any",
        "a body over the limit (with or without a Content-Length), an image over its byte, side or pixel "
        "limit, a decompression bomb",
    ),
    ErrorCode(
        "unsupported_media_type",
        415,
        "any",
        "a content type (header, form part or data URL) other than the accepted image types, multipart or JSON",
    ),
    ErrorCode("no_digit", 422, "image", "a blank image, a dot or a short dash, or ink too faint to be a digit"),
    ErrorCode(
        "too_many_digits",
        422,
        "number",
        f"`/api/read` of an image with more than {MAX_DIGITS} digits (`model.segment.MAX_DIGITS`), "
        "or ink too wide to be so few",
    ),
    ErrorCode(
        "rate_limited",
        429,
        "limited",
        "the client is over its budget for this route (`DIGITS_RATE_LIMITS`); the `Retry-After` header says in "
        "how many seconds to try again",
    ),
    ErrorCode(
        "feedback_unavailable",
        503,
        "feedback",
        "the feedback database cannot store samples now (read-only, full); prediction still works",
    ),
    ErrorCode("review_unavailable", 503, "review", "the feedback database cannot be read or changed now"),
)

BY_CODE: dict[str, ErrorCode] = {error.code: error for error in ERRORS}

# What each failure the model code raises becomes.
IMAGE_ERRORS: dict[type[ImageError], str] = {
    ImageTooLarge: "too_large",
    UnreadableImage: "invalid_image",
    NoDigitFound: "no_digit",
    TooManyDigits: "too_many_digits",
}
# The framework's own errors (routing, body limits) by status.
HTTP_ERRORS: dict[int, str] = {
    BY_CODE[code].status: code
    for code in ("bad_request", "not_found", "method_not_allowed", "request_timeout", "too_large")
}


def codes(status: int, *scopes: Scope) -> list[str]:
    """The codes answered with ``status``: all of them, or those a request of any of ``scopes`` can meet."""
    return [e.code for e in ERRORS if e.status == status and (not scopes or e.scope in ("any", *scopes))]


class ApiError(Exception):
    """An error answered in the JSON error shape, with its code's status and any ``headers``
    (``Retry-After``, say), which every handler of it copies onto its response."""

    def __init__(self, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.error = BY_CODE[code]
        self.message = message
        self.headers: dict[str, str] = dict(headers or {})


def fail(code: str, message: str, headers: Mapping[str, str] | None = None) -> NoReturn:
    """Stop the request with error ``code`` (one of ``ERRORS``), ``message`` and response ``headers``."""
    raise ApiError(code, message, headers)


def error_response(code: str, message: str) -> tuple[Response, int]:
    """The one JSON error shape every error of the app takes; the code is kept for ``app.prometheus``."""
    if has_request_context():
        g.digits_error = code
    return jsonify(error={"code": code, "message": message}), BY_CODE[code].status


def register_error_handlers(app: Flask) -> None:
    """Answer every error of the app, the framework's own (404, 405, 413, ...) included, as JSON."""

    @app.errorhandler(ApiError)
    def api_error(e: ApiError) -> tuple[Response, int]:
        response, status = error_response(e.error.code, e.message)
        response.headers.update(e.headers)
        return response, status

    @app.errorhandler(ImageError)
    def image_error(e: ImageError) -> tuple[Response, int]:
        return error_response(IMAGE_ERRORS.get(type(e), "invalid_image"), str(e))

    @app.errorhandler(FeedbackError)
    def feedback_unavailable(e: FeedbackError) -> tuple[Response, int]:
        current_app.logger.error("feedback not stored: %s", e)
        return error_response("feedback_unavailable", f"feedback cannot be stored right now: {e}")

    @app.errorhandler(BrokenBody)
    def broken_body(e: Exception) -> tuple[Response, int]:
        return error_response("bad_request", "the request body cannot be read: its chunked encoding is broken")

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> tuple[Response, int]:
        status = e.code or 500
        code = HTTP_ERRORS.get(status)
        if code is None:  # not one the app answers by design (a 500 is a bug, and logged by Flask)
            return jsonify(error={"code": (e.name or "error").lower().replace(" ", "_"), "message": e.name}), status
        if code == "too_large":
            message = (
                f"the request body is too large: at most {current_app.config['MAX_CONTENT_LENGTH']:,} bytes, "
                f"for an image of at most {current_app.config['MAX_BYTES']:,} bytes"
            )
        else:
            message = e.description or e.name
        response, status = error_response(code, message)
        allow = e.get_response().headers.get("Allow")
        if status == 405 and allow:
            response.headers["Allow"] = allow
        return response, status
