"""Settings: defaults in one place, overridden by ``DIGITS_*`` environment variables.

``create_app`` layers them: ``DEFAULTS``, then ``from_environ(os.environ)``, then the test
config. Each setting's environment variable is ``DIGITS_`` + its name.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

DEFAULTS: dict[str, Any] = {
    # Every *.npz in this folder is loaded at start-up; a model's name is its file's stem.
    "MODEL_DIR": str(ROOT / "model"),
    "DEFAULT_MODEL": "digits",
    # Limits on what /predict accepts, checked before any large allocation.
    "MAX_BYTES": 2 * 1024 * 1024,
    "MAX_SIDE": 4096,
    "MAX_PIXELS": 16_000_000,
    # Below this confidence the page says "not sure" and shows the top two guesses.
    "LOW_CONFIDENCE": 0.6,
    # Signs the sample tokens of /predict answers. Unset, a random key is made at start-up:
    # shared by the workers of one preloading gunicorn, but not by separate processes.
    "SECRET_KEY": None,
    # The feedback database: a path, or a SQLite file: URI; created on first use.
    "FEEDBACK_DB": str(ROOT / "instance" / "feedback.sqlite"),
    # The feedback database's size cap; past it feedback answers 503 and prediction goes on.
    "FEEDBACK_MAX_BYTES": 1024 * 1024 * 1024,
}

_PARSERS = {
    "MODEL_DIR": str,
    "DEFAULT_MODEL": str,
    "MAX_BYTES": int,
    "MAX_SIDE": int,
    "MAX_PIXELS": int,
    "LOW_CONFIDENCE": float,
    "SECRET_KEY": str,
    "FEEDBACK_DB": str,
    "FEEDBACK_MAX_BYTES": int,
}


class SettingsError(ValueError):
    """A ``DIGITS_*`` variable that cannot be used; the message names it."""


def from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings given as ``DIGITS_<NAME>`` variables in ``environ``, parsed."""
    settings: dict[str, Any] = {}
    for name, parse in _PARSERS.items():
        raw = environ.get(f"DIGITS_{name}")
        if raw is None or raw == "":
            continue
        try:
            value = parse(raw)
        except ValueError:
            raise SettingsError(f"DIGITS_{name}={raw!r} is not a valid {parse.__name__}") from None
        if parse is not str and value <= 0:
            raise SettingsError(f"DIGITS_{name}={raw!r} must be positive")
        settings[name] = value
    return settings
