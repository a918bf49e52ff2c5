"""Photos of ink on paper: telling them from drawings, and removing the paper's light.

(A stand-in until the photo work lands: no image is taken for a photo yet.)
"""

from __future__ import annotations

import numpy as np


def looks_like_photo(grey: np.ndarray) -> bool:
    """Whether the opaque greyscale image ``grey`` (h, w) in [0, 1] is a photo of paper."""
    return False


def find_ink(grey: np.ndarray) -> np.ndarray:
    """A photo's greyscale (h, w) in [0, 1] -> its ink (h, w) float32 in [0, 1], 0 = paper."""
    raise NotImplementedError
