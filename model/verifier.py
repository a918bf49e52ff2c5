"""The one-digit verifier: is a piece of a number's ink exactly one whole digit?

A small softmax network (``model.network.Network``, 789 -> hidden -> 3) over the piece's 28x28
MNIST form (``preprocess.ink_to_mnist`` of the piece's ink) and five numbers for what that form
loses (``segment.shape_features``): its size against the number's typical digit height H (width
/ H, height / H, log(width / height)) and the ink its left and right cuts go through (a cut
between touching digits crosses little, one through a digit a whole stroke). Its classes:

- ``ONE`` (0): one whole digit, perhaps with a sliver of a neighbour's stroke at an edge;
- ``MANY`` (1): two or more touching digits;
- ``PART`` (2): a fragment of a digit, or a digit with a good part of its neighbour.

``model.segment`` uses P(ONE) to choose where to cut touching digits, where the digit classifier's
confidence is a poor judge. It is trained by ``python -m model.verifier_train`` on the very pieces
the segmenter cuts from generated numbers of MNIST training digits. The weights live in
``model/verifier/`` (not in ``model/``, whose every ``*.npz`` the app serves as a digit model).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from model.network import Network
from model.shape import PIXELS

ONE, MANY, PART = 0, 1, 2
CLASSES = ("one", "many", "part")
# The shape features are scaled up to weigh like a stroke's worth of pixels at the start of training.
FEATURE_SCALE = np.float32(4.0)
VERIFIER_WEIGHTS = Path(__file__).resolve().parent / "verifier" / "one_digit.npz"


@functools.cache
def load_verifier(path: Path = VERIFIER_WEIGHTS) -> Network:
    """The verifier network saved at ``path``, loaded once per process (raises ``WeightsError``)."""
    return Network.load(path)


def inputs(images: np.ndarray, features: np.ndarray) -> np.ndarray:
    """The network's input columns (PIXELS + FEATURES, n) for ``images`` (n, 28, 28) float32 in
    [0, 1] and their shapes ``features`` (n, FEATURES) (``segment.shape_features``)."""
    pixels = np.asarray(images, dtype=np.float32).reshape(len(images), PIXELS)
    shape = FEATURE_SCALE * np.asarray(features, dtype=np.float32)
    return np.concatenate([pixels, shape], axis=1).T


def one_digit_probability(net: Network, images: np.ndarray, features: np.ndarray) -> np.ndarray:
    """(n,) float64, P(ONE) for each of ``images`` (n, 28, 28) with ``features`` (n, FEATURES)."""
    return net.predict_proba(inputs(images, features))[ONE].astype(np.float64)
