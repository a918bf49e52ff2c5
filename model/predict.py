"""Reading the digit in an image: ``read_digit``, and the command line around it.

``read_digit(net, data)`` is the one way from image bytes to a reading: ``model.preprocess``
turns the bytes into the 28x28 MNIST form and ``Network.predict_proba`` reads it. The web app's
``/predict`` and ``/api/explain`` call it, and so does this command line:

    python -m model.predict IMAGE... [--weights PATH]

One line per file, ``path: 7 (98.1%)`` on stdout, or ``path: error: <why>`` on
stderr. Exit status 0 when every file was read, 1 when any failed or the weights could not be
loaded, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model import cli, segment, verifier
from model import preprocess as pre
from model.network import DEFAULT_WEIGHTS, Network, WeightsError
from model.preprocess import ImageError, Limits, preprocess
from model.shape import PIXELS

LIMITS = Limits()
DESCRIPTION = "Read the digit in each image file with a saved network, as the web app reads an upload."


def _read_head(path: Path, size: int) -> bytes:
    """At most ``size`` bytes of the file: enough for ``preprocess`` to refuse one that is too big."""
    with path.open("rb") as f:
        return f.read(size)


@dataclass(frozen=True)
class Reading:
    """What a network reads in one image."""

    image: np.ndarray  # (28, 28) float32 in [0, 1], light ink on black: what the network saw
    probabilities: np.ndarray  # (10,) float64, the probability of each digit; they sum to 1

    @property
    def label(self) -> int:
        return int(np.argmax(self.probabilities))

    @property
    def confidence(self) -> float:
        return float(self.probabilities[self.label])


def read_digit(net: Network, data: bytes, limits: Limits = LIMITS) -> Reading:
    """Image bytes -> the digit ``net`` reads in them; raises ``ImageError`` for a bad image."""
    image = preprocess(data, limits)
    probabilities = net.predict_proba(image.reshape(PIXELS, 1))[:, 0].astype(np.float64)
    return Reading(image, probabilities)


@dataclass(frozen=True)
class DigitReading:
    """One digit of a number: what the network reads in it, and where it is."""

    label: int
    confidence: float  # the probability of ``label``
    box: tuple[int, int, int, int]  # (x0, y0, x1, y1) in the posted image's pixels, x1/y1 exclusive
    probabilities: np.ndarray  # (10,) float64, the probability of each digit; they sum to 1
    image: np.ndarray  # (28, 28) float32 in [0, 1]: what the network saw of this digit


@dataclass(frozen=True)
class NumberReading:
    """What a network reads in an image of a whole number: its digits, left to right."""

    text: str  # the labels, left to right, e.g. "2026"
    digits: tuple[DigitReading, ...]


def read_number(net: Network, data: bytes, limits: Limits = LIMITS, *, judge: Network | None = None) -> NumberReading:
    """Image bytes -> the number ``net`` reads in them, digit by digit, left to right.

    ``model.segment.split_digits`` splits the ink into digits; each digit's ink alone becomes the
    MNIST form (an image of one digit that is kept whole reads exactly as ``read_digit`` reads
    it). ``judge`` (default: ``model.verifier``'s shipped network, loaded once per process) judges
    every group read whole and every candidate piece: a whole digit, a fragment, or two squashed
    together. Raises ``NoDigitFound`` when there is no digit, ``TooManyDigits`` for more than
    ``segment.MAX_DIGITS``, ``WeightsError`` when the verifier's weights are missing, and the
    other ``ImageError``s as ``read_digit`` does.
    """
    image = pre.load_image(data, limits)
    ink = pre.ink_map(image)

    def classify(images: np.ndarray) -> np.ndarray:
        columns = images.reshape(len(images), PIXELS).T
        return net.predict_proba(columns).T.astype(np.float64)  # (n, 10)

    def verify(images: np.ndarray, features: np.ndarray) -> np.ndarray:
        return verifier.one_digit_probability(judge or verifier.load_verifier(), images, features)

    pieces = segment.split_digits(ink, classify, verify)
    if len(pieces) == 1:
        # One digit: exactly what read_digit reads (to_mnist may take the page's fast path, which
        # differs from ink_to_mnist by a few thousandths per pixel).
        alone = pre.to_mnist(image)
        p = net.predict_proba(alone.reshape(PIXELS, 1))[:, 0].astype(np.float64)
        pieces = [segment.Piece(alone, p, pieces[0].box)]
    # Boxes in the posted image's pixels: the ink map may be the decoded image reduced by a whole
    # factor, and a large JPEG is decoded at a fraction of its size.
    draft = float(image.info.get(pre.DRAFT_SCALE, 1.0))
    sx, sy = image.width / ink.shape[1] * draft, image.height / ink.shape[0] * draft
    width, height = round(image.width * draft), round(image.height * draft)
    digits = []
    for piece in pieces:
        x0, y0, x1, y1 = piece.box
        box = (
            max(0, math.floor(x0 * sx)),
            max(0, math.floor(y0 * sy)),
            min(width, math.ceil(x1 * sx)),
            min(height, math.ceil(y1 * sy)),
        )
        p = piece.probabilities
        label = int(np.argmax(p))
        digits.append(DigitReading(label, float(p[label]), box, p, piece.image))
    return NumberReading("".join(str(d.label) for d in digits), tuple(digits))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m model.predict", description=DESCRIPTION)
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, GIF, BMP, WebP)")
    parser.add_argument(
        "--weights", type=Path, default=DEFAULT_WEIGHTS, help=f"network weights (default: {DEFAULT_WEIGHTS})"
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or bad arguments (2)
        return e.code if isinstance(e.code, int) else 2
    try:
        net = Network.load(args.weights)
    except WeightsError as e:
        print(f"error: cannot load weights: {e}", file=sys.stderr)
        return 1
    failed = 0
    for name in args.images:
        try:
            reading = read_digit(net, _read_head(Path(name), LIMITS.max_bytes + 1), LIMITS)
        except (ImageError, OSError) as e:
            message = str(e) if isinstance(e, ImageError) else f"cannot read the file ({e.strerror or e})"
            print(f"{name}: error: {message}", file=sys.stderr)
            failed += 1
        else:
            print(f"{name}: {reading.label} ({reading.confidence:.1%})")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
