"""Splitting an image's ink into digits (a placeholder until the segmentation lands)."""

from __future__ import annotations

from model.preprocess import ImageError

MAX_DIGITS = 12  # more digits than this in one image is refused


class TooManyDigits(ImageError):
    """The image holds more than MAX_DIGITS digits."""
