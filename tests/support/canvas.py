"""Test helpers: digits as a browser's drawing canvas would upload them.

The drawings are defined once in ``scripts/drawing.py``, because the scripts and benchmarks draw
the same digits (and must not import from ``tests``); the tests import them from here.
"""

from scripts.drawing import drawn_digit, render_like_canvas

__all__ = ["drawn_digit", "render_like_canvas"]
