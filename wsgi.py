"""The WSGI entry point: ``gunicorn wsgi:app`` (settings in gunicorn.conf.py)."""

import sys

from app import StartupError, create_app

try:
    app = create_app()
except StartupError as e:
    # One clear line instead of a traceback, and a non-zero exit: never serve without a model.
    print(f"digits: cannot start: {e}", file=sys.stderr, flush=True)
    raise SystemExit(1) from None
