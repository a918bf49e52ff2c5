"""Inside the network: what ``POST /api/explain`` answers for one drawing.

For the 28x28 input ``x``: the activations of each hidden layer, and for the first hidden layer
the incoming weights of its most active units (all of them when there are at most ``TOP_UNITS``),
each drawn as a 28x28 picture: orange where ink excites the unit, blue where ink inhibits it.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
from PIL import Image

from model.network import Network
from model.shape import SIDE

TOP_UNITS = 32
# The values of /predict's ``?explain=``: whether the reading also carries what ``explain`` answers.
QUERY_VALUES = {"1": True, "true": True, "0": False, "false": False}
# Decimal places of the numbers in the answers (probabilities, activations): a probability of
# 1.8e-06 reads as 0.0, and the ten probabilities still sum to 1 within 10 x 0.00005.
DECIMALS = 4

# Colours of a weight picture: a weight of 0 is white, the unit's largest positive weight orange,
# its most negative weight blue (a diverging scale, symmetric around 0 for each unit).
_ZERO = np.array([255, 255, 255], dtype=np.float64)
_POSITIVE = np.array([230, 115, 0], dtype=np.float64)
_NEGATIVE = np.array([25, 95, 210], dtype=np.float64)


def weight_picture(w: np.ndarray) -> str:
    """A unit's 784 incoming weights as a 28x28 RGB PNG data URL."""
    w = np.asarray(w, dtype=np.float64).reshape(SIDE, SIDE)
    scale = np.abs(w).max()
    t = w / scale if scale > 0 else np.zeros_like(w)
    ends = np.where((t >= 0)[..., None], _POSITIVE, _NEGATIVE)
    rgb = _ZERO + np.abs(t)[..., None] * (ends - _ZERO)
    out = io.BytesIO()
    Image.fromarray(np.rint(rgb).astype(np.uint8), mode="RGB").save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def explain(network: Network, x: np.ndarray, top: int = TOP_UNITS) -> dict[str, Any]:
    """The ``layers`` and ``units`` of the explain answer for one input ``x`` (784 values in [0, 1]).

    ``layers``: one entry per hidden layer with its activations. ``units``: the first hidden
    layer's ``top`` most active units, most active first, each with its activation, its
    ``excitation`` (activation over the largest shown, in [0, 1]) and its weight picture.
    """
    activations = [a[:, 0].astype(np.float64) for a in network.activations(x.reshape(-1, 1))[:-1]]
    layers = [
        {
            "index": k + 1,
            "size": int(a.size),
            "activation": network.activation,
            "values": np.round(a, DECIMALS).tolist(),
            "max": round(float(a.max()), DECIMALS),
        }
        for k, a in enumerate(activations)
    ]
    first = activations[0] if activations else np.zeros(0)
    order = np.argsort(-first, kind="stable")[:top]
    strongest = float(first[order[0]]) if order.size else 0.0
    items = [
        {
            "unit": int(unit),
            "activation": round(float(first[unit]), DECIMALS),
            "excitation": round(float(first[unit]) / strongest, DECIMALS) if strongest > 0 else 0.0,
            "weights": weight_picture(network.weights[0][unit]),
        }
        for unit in order
    ]
    return {"layers": layers, "units": {"layer": 1, "shown": len(items), "of": int(first.size), "items": items}}
