"""Settings: each declared once in ``SETTINGS``, overridden by ``DIGITS_*`` environment variables.

``create_app`` layers them: ``DEFAULTS``, then ``from_environ(os.environ)``, then the test
config. Each setting's environment variable is ``DIGITS_`` + its name (``Setting.env``).
``DEFAULTS``, ``from_environ`` and the README's configuration table all derive from ``SETTINGS``;
a script makes the table from ``Setting.env``, ``Setting.shown_default`` and ``Setting.description``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.ratelimit import DEFAULT_SETTING, rate_limits
from model.feedback import CONFIDENT
from model.preprocess import Limits

ROOT = Path(__file__).resolve().parent.parent

# A key this short can be guessed; 16 characters is the rule since keys were first configurable.
MIN_KEY_CHARS = 16
MAKE_A_KEY = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'

Key = str | bytes


class SettingsError(ValueError):
    """A ``DIGITS_*`` variable that cannot be used; the message names it."""


def text(raw: str) -> str:
    """Any string, as given."""
    return raw


def _positive(kind: type[int] | type[float]) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        try:
            value = kind(raw)
        except ValueError:
            raise ValueError(f"is not a valid {kind.__name__}") from None
        if not value > 0:  # also refuses nan
            raise ValueError("must be positive")
        return value

    parse.__doc__ = f"A {'whole ' if kind is int else ''}number above zero."
    return parse


positive_int = _positive(int)
positive_float = _positive(float)


def non_negative_int(raw: str) -> int:
    """A whole number, zero or more."""
    try:
        value = int(raw)
    except ValueError:
        raise ValueError("is not a valid int") from None
    if value < 0:
        raise ValueError("must be zero or more")
    return value


def admin_token(raw: str) -> str:
    """The review page's sign-in token without the whitespace around it (a secrets file's trailing
    newline): at least ``MIN_KEY_CHARS`` characters, since it is all that stands between a visitor
    and what the trainer learns from."""
    raw = raw.strip()
    if len(raw) < MIN_KEY_CHARS:
        raise ValueError(
            f"is too short to guard the review page ({len(raw)} characters): give at least {MIN_KEY_CHARS} random "
            f"characters, e.g. the output of {MAKE_A_KEY}"
        )
    return raw


def on_off(raw: str) -> bool:
    """``on`` or ``off`` (also ``1``/``0``, ``true``/``false``, ``yes``/``no``), in any case."""
    value = ON_OFF.get(raw.strip().lower())
    if value is None:
        raise ValueError("must be on or off")
    return value


ON_OFF = {"on": True, "1": True, "true": True, "yes": True, "off": False, "0": False, "false": False, "no": False}


def key_list(raw: str) -> tuple[str, ...]:
    """Comma-separated secret keys, newest first; spaces around each are dropped.

    Lengths are checked by ``secret_keys`` once all configuration layers are applied.
    """
    return tuple(key.strip() for key in raw.split(","))


@dataclass(frozen=True)
class Setting:
    """One setting: its name (the variable is ``DIGITS_<name>``), default, parser and meaning."""

    name: str
    default: Any
    parse: Callable[[str], Any]
    description: str
    # How the README shows the default when the value itself is not what a reader should see
    # (an absolute path of this checkout, or "none, so ...").
    default_text: str | None = None
    # A secret's value never appears in an error message.
    secret: bool = False

    @property
    def env(self) -> str:
        return f"DIGITS_{self.name}"

    @property
    def shown_default(self) -> str:
        return self.default_text if self.default_text is not None else str(self.default)


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "MODEL_DIR",
        str(ROOT / "model"),
        text,
        "every `*.npz` in this folder is loaded at start-up; a model's name is its file's stem",
        default_text="`model/` of this repository",
    ),
    Setting("DEFAULT_MODEL", "digits", text, "the model `/predict` uses without `?model=`"),
    Setting(
        "MAX_BYTES", Limits().max_bytes, positive_int, "largest image accepted, in bytes (a phone photo is 3-6 MB)"
    ),
    Setting("MAX_SIDE", Limits().max_side, positive_int, "largest width or height accepted, in pixels"),
    Setting("MAX_PIXELS", Limits().max_pixels, positive_int, "largest width x height accepted"),
    Setting(
        "LOW_CONFIDENCE",
        CONFIDENT,
        positive_float,
        'below this confidence the page says "not sure"; a label against a reading at least this sure is a '
        "disagreement on the review page",
    ),
    Setting(
        "REQUEST_TIMEOUT",
        15,
        positive_float,
        "seconds a request's body may take to arrive once its headers have (the headers have gunicorn's "
        "`keepalive`, in gunicorn.conf.py); a slower client is answered 408 and disconnected",
    ),
    Setting(
        "SECRET_KEY",
        None,
        key_list,
        f"signs the `sample` tokens: comma-separated keys of at least {MIN_KEY_CHARS} characters, newest first; "
        "the first signs, any verifies (rotate by putting a new key in front); set it so tokens outlive a restart "
        "or are shared by several servers (the workers of one gunicorn share the start-up key)",
        default_text="one random key made at start-up",
        secret=True,
    ),
    Setting(
        "SAMPLE_MAX_AGE",
        24 * 60 * 60,
        positive_int,
        "how many seconds after a reading its `sample` token is still accepted as feedback",
    ),
    Setting(
        "ADMIN_TOKEN",
        None,
        admin_token,
        "turns on the review page at `/review`, where a person signed in with this token (at least "
        f"{MIN_KEY_CHARS} characters; whitespace around it, such as a secrets file's trailing newline, is dropped) "
        "approves or rejects feedback before it trains anything; unset, `/review` is a 404",
        default_text="none, so no review page",
        secret=True,
    ),
    Setting(
        "RATE_LIMITS",
        DEFAULT_SETTING,
        rate_limits,
        "requests each client may make: `off`, or comma-separated `name=LIMITS` for the budgets `predict`, "
        "`explain`, `feedback` and `sign_in` (the review page's), LIMITS as `60/minute;600/hour` or `off`; budgets "
        "not named keep their defaults; over a budget, 429 with `Retry-After`; the workers share one count",
        default_text="`" + DEFAULT_SETTING.replace(",", ", ") + "`",
    ),
    Setting(
        "TRUSTED_PROXIES",
        0,
        non_negative_int,
        "how many proxies stand in front of the server: with N, a client is the Nth address from the end of "
        "`X-Forwarded-For`, as the proxies wrote it (werkzeug's ProxyFix, which also reads `X-Forwarded-Proto`); "
        "with 0, the socket's address, whatever the headers say",
    ),
    Setting(
        "FEEDBACK_DB",
        str(ROOT / "instance" / "feedback.sqlite"),
        text,
        "the feedback database: a SQLite path or `file:` URI, or `postgresql://USER[:PASSWORD]@HOST[:PORT]/DB`; "
        "created on first use",
        default_text="`instance/feedback.sqlite`",
    ),
    Setting(
        "FEEDBACK_MAX_BYTES",
        1024 * 1024 * 1024,
        positive_int,
        "the feedback database's size cap in bytes; past it feedback answers 503 and reading digits goes on",
    ),
    Setting(
        "METRICS",
        True,
        on_off,
        "`GET /metrics`, the server's counts in Prometheus' text format (the README's table); open on the app's "
        "port, so behind a proxy keep it from the outside (the nginx template does); `off` leaves it out (404)",
        default_text="`on`",
    ),
)

DEFAULTS: dict[str, Any] = {setting.name: setting.default for setting in SETTINGS}


def from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings given as ``DIGITS_<NAME>`` variables in ``environ``, parsed; empty ones are unset."""
    settings: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.env)
        if raw is None or raw == "":
            continue
        try:
            settings[setting.name] = setting.parse(raw)
        except ValueError as e:
            given = setting.env if setting.secret else f"{setting.env}={raw!r}"
            raise SettingsError(f"{given} {e}") from None
    return settings


def secret_keys(value: Key | Sequence[Key]) -> list[Key]:
    """The configured ``SECRET_KEY`` (one key, or several newest first) as a list, each long enough.

    Raises ``SettingsError`` naming the short key by its place, never echoing it.
    """
    keys = [value] if isinstance(value, str | bytes) else list(value)
    if not keys:
        raise SettingsError(f"DIGITS_SECRET_KEY holds no key: give one, e.g. the output of {MAKE_A_KEY}")
    for place, key in enumerate(keys, start=1):
        if not isinstance(key, str | bytes):
            raise SettingsError(f"SECRET_KEY must be a string or a list of strings, not {type(key).__name__}")
        if len(key) < MIN_KEY_CHARS:
            which = "DIGITS_SECRET_KEY" if len(keys) == 1 else f"key {place} of {len(keys)} in DIGITS_SECRET_KEY"
            raise SettingsError(
                f"{which} is too short to sign anything ({len(key)} characters): give at least {MIN_KEY_CHARS} "
                f"random characters, e.g. the output of {MAKE_A_KEY}"
            )
    return keys
