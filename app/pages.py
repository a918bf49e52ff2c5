"""The drawing page."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

bp = Blueprint("pages", __name__)


@bp.get("/")
def index() -> str:
    models = current_app.extensions["digits.models"]
    return render_template(
        "index.html",
        models=[m.describe() for m in models.values()],
        default_model=current_app.config["DEFAULT_MODEL"],
        low_confidence=current_app.config["LOW_CONFIDENCE"],
    )
