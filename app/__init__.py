"""The digits web app: a drawing page and a JSON API around the NumPy network.

``create_app()`` layers the configuration (``app.settings.DEFAULTS``, then ``DIGITS_*``
environment variables, then ``test_config``), loads every model once, and registers the page
and API blueprints. It raises ``StartupError`` (one line naming the file and the problem) when
the models cannot be served, so a server never starts without them. The routes that do work are
held to per-client budgets (``app.ratelimit``); with ``TRUSTED_PROXIES`` set, werkzeug's ProxyFix
takes the client's address from what the proxies in front report. The feedback database is
not touched until the first feedback arrives.

The secret keys (``SECRET_KEY``: one key or several, newest first) end up where Flask 3.1 keeps
them: ``config["SECRET_KEY"]`` is the newest, which signs, and ``config["SECRET_KEY_FALLBACKS"]``
the older ones, which still verify, in Flask's order (oldest first, as itsdangerous takes them).
``app.samples.keys_of(app)`` gives them back newest first.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from app import api, errors, inputs, pages, prometheus, ratelimit, review, security
from app.models import ModelLoadError, load_models
from app.settings import DEFAULTS, ROOT, SettingsError, from_environ, secret_keys
from model import feedback, verifier
from model.feedback import FeedbackStore
from model.network import WeightsError


class StartupError(RuntimeError):
    """The app cannot start; the message is one line saying why."""


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask app; see the module docstring for the configuration layers."""
    app = Flask(__name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"))
    # Each answer is built in its documented order, what a person reads first (app/openapi.py).
    app.json.sort_keys = False
    app.config.from_mapping(DEFAULTS)
    try:
        app.config.update(from_environ(os.environ))
    except SettingsError as e:
        raise StartupError(str(e)) from None
    if test_config is not None:
        app.config.update(test_config)
    # Flask reads FLASK_DEBUG into the config; debug mode (exceptions let through, the debugger)
    # is never wanted from a server's environment, so only test_config can turn it on.
    app.debug = bool(test_config and test_config.get("DEBUG"))
    # Werkzeug refuses longer bodies with 413 while reading them. A JSON body carries the image
    # as base64 (4/3 of its size), so it may be somewhat longer than the image itself.
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_BYTES"] * 4 // 3 + 64 * 1024
    _set_secret_keys(app)
    app.extensions["digits.feedback"] = _feedback_store(app.config)
    try:
        app.extensions["digits.models"] = load_models(app.config["MODEL_DIR"], app.config["DEFAULT_MODEL"])
    except ModelLoadError as e:
        raise StartupError(str(e)) from None
    try:  # /api/read's judge of where touching digits part: loaded here, not in a reader's request
        app.extensions["digits.verifier"] = verifier.load_verifier()
    except WeightsError as e:
        raise StartupError(f"{verifier.VERIFIER_WEIGHTS}: cannot load the one-digit verifier: {e}") from None

    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    try:
        review.init_app(app)  # the review page, only with ADMIN_TOKEN
    except SettingsError as e:
        raise StartupError(str(e)) from None
    errors.register_error_handlers(app)
    prometheus.init_app(app)
    security.init_app(app)
    inputs.init_app(app)
    try:
        ratelimit.init_app(app)
    except ValueError as e:
        raise StartupError(f"DIGITS_RATE_LIMITS={app.config['RATE_LIMITS']!r} {e}") from None
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:
        # The client is who the proxies say it is (for the rate limits), but only as far back as they are trusted.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    return app


def _feedback_store(config: Mapping[str, Any]) -> FeedbackStore:
    """The store ``FEEDBACK_DB`` names (``model.feedback.open_store``); ``StartupError`` for one that
    would keep nothing or that the app cannot use. Nothing is connected to here: each worker opens
    its own connections on its first use, after gunicorn forks."""
    given = str(config["FEEDBACK_DB"])
    if given.strip() in ("", ":memory:"):
        raise StartupError(f"DIGITS_FEEDBACK_DB={given!r} keeps nothing: give {feedback.LOCATIONS}")
    try:
        return feedback.open_store(given, config["FEEDBACK_MAX_BYTES"])
    except ValueError as e:
        raise StartupError(f"DIGITS_FEEDBACK_DB={feedback.redacted(given)!r}: {e}") from None


def _set_secret_keys(app: Flask) -> None:
    """Split the configured keys into Flask's ``SECRET_KEY`` (newest) and ``SECRET_KEY_FALLBACKS`` (older).

    Unset, one random key is made here: shared by the workers of a preloading gunicorn, but not
    by separate processes. Fallbacks given in Flask's own form (test config) are kept, as older keys.
    """
    configured = app.config["SECRET_KEY"] or secrets.token_bytes(32)
    newest_first = [configured] if isinstance(configured, str | bytes) else list(configured)
    newest_first += reversed(app.config.get("SECRET_KEY_FALLBACKS") or [])
    try:
        keys = secret_keys(newest_first)
    except SettingsError as e:
        raise StartupError(str(e)) from None
    app.config["SECRET_KEY"] = keys[0]
    app.config["SECRET_KEY_FALLBACKS"] = list(reversed(keys[1:]))
