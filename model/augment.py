"""Data augmentation: new training images each epoch from small random distortions.

Each function maps input columns of shape (784, n) (28x28 images, values in [0, 1]) to new
columns of the same shape, drawing its randomness from the generator it is given, so a seeded
training run sees the same distortions every time. They plug into ``Network.SGD`` as
``transform``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from model.shape import SIDE

ELASTIC_ALPHA = 34.0  # Simard et al.'s scale for 28x28 digits with sigma 4


def random_shift(X: np.ndarray, rng: np.random.Generator, max_shift: int = 2) -> np.ndarray:
    """Move each image by a whole number of pixels, -max_shift..max_shift in x and in y.

    (784, n) -> (784, n); ink pushed past an edge is lost, new margin is background (0).
    """
    n = X.shape[1]
    s = max_shift
    # Work on (n, 28, 28) so that each image is contiguous.
    images = np.ascontiguousarray(X.T).reshape(n, SIDE, SIDE)
    padded = np.zeros((n, SIDE + 2 * s, SIDE + 2 * s), dtype=X.dtype)
    padded[:, s : s + SIDE, s : s + SIDE] = images
    dy = rng.integers(-s, s + 1, n)
    dx = rng.integers(-s, s + 1, n)
    out = np.empty_like(images)
    for a in range(-s, s + 1):
        for b in range(-s, s + 1):
            idx = np.flatnonzero((dy == a) & (dx == b))
            if idx.size:
                out[idx] = padded[idx, s - a : s - a + SIDE, s - b : s - b + SIDE]
    return out.reshape(n, SIDE * SIDE).T


def random_affine(
    X: np.ndarray,
    rng: np.random.Generator,
    max_shift: float = 2.0,
    max_rotation: float = 10.0,
    max_scale: float = 0.1,
    max_shear: float = 0.1,
    elastic: float = 0.0,
    elastic_sigma: float = 4.0,
) -> np.ndarray:
    """Apply a small random affine map to each image: rotation up to ``max_rotation``
    degrees, scaling by up to ``1 +- max_scale``, shear up to ``max_shear``, translation up
    to ``max_shift`` pixels (all uniform), with bilinear interpolation.

    With ``elastic`` > 0 each image is also distorted elastically (Simard et al., 2003): every
    pixel moves by a random field, uniform in [-1, 1], smoothed by a Gaussian of
    ``elastic_sigma`` pixels and scaled by ``elastic``.

    (784, n) -> (784, n).
    """
    n = X.shape[1]
    theta = np.deg2rad(rng.uniform(-max_rotation, max_rotation, n))
    scale = 1 + rng.uniform(-max_scale, max_scale, n)
    shear = rng.uniform(-max_shear, max_shear, n)
    tx = rng.uniform(-max_shift, max_shift, n)
    ty = rng.uniform(-max_shift, max_shift, n)
    f32 = np.float32
    cos, sin = (np.cos(theta) / scale).astype(f32), (np.sin(theta) / scale).astype(f32)
    shear, tx, ty = shear.astype(f32), tx.astype(f32), ty.astype(f32)
    # Inverse map, output pixel -> source position, about the image centre.
    c = (SIDE - 1) / 2
    ys, xs = np.mgrid[0:SIDE, 0:SIDE].reshape(2, -1).astype(np.float32) - c  # (784,) each
    out = np.empty_like(X)
    # In chunks of columns, so that the temporaries stay in cache.
    for k in range(0, n, _CHUNK):
        j = slice(k, k + _CHUNK)
        ox = xs[:, None] - tx[None, j]
        oy = ys[:, None] - ty[None, j]
        src_x = cos[j] * ox + (sin[j] + shear[j]) * oy + c
        src_y = -sin[j] * ox + cos[j] * oy + c
        if elastic:
            src_x += _smooth_field(rng, ox.shape[1], elastic_sigma) * f32(elastic)
            src_y += _smooth_field(rng, ox.shape[1], elastic_sigma) * f32(elastic)
        out[:, j] = _bilinear(X[:, j], src_x, src_y)
    return out


def _smooth_field(rng: np.random.Generator, m: int, sigma: float) -> np.ndarray:
    """m random displacement fields, uniform in [-1, 1] then Gaussian-smoothed: (784, m)."""
    # Smoothing rows and columns is two matrix products with a Gaussian matrix (zero padding).
    offsets = np.arange(SIDE)[:, None] - np.arange(SIDE)[None, :]
    gauss = np.exp(-0.5 * (offsets / sigma) ** 2).astype(np.float32)
    gauss /= gauss.sum(axis=1, keepdims=True).max()
    field = rng.uniform(-1, 1, (m, SIDE, SIDE)).astype(np.float32)
    return (gauss @ field @ gauss.T).reshape(m, SIDE * SIDE).T


_CHUNK = 1024


def _bilinear(X: np.ndarray, src_x: np.ndarray, src_y: np.ndarray) -> np.ndarray:
    """Sample each column of X (an image) at (src_x, src_y), both (784, n); outside is 0."""
    n = X.shape[1]
    # One pixel of zero border, so that every neighbour of an in-range position exists.
    padded = np.zeros((SIDE + 2, SIDE + 2, n), dtype=X.dtype)
    padded[1:-1, 1:-1] = X.reshape(SIDE, SIDE, n)
    flat = padded.reshape(-1)
    px = np.clip(src_x + 1, 0, SIDE + 0.999, dtype=np.float32)
    py = np.clip(src_y + 1, 0, SIDE + 0.999, dtype=np.float32)
    x0 = px.astype(np.int32)
    y0 = py.astype(np.int32)
    fx = (px - x0).astype(X.dtype)
    fy = (py - y0).astype(X.dtype)
    cols = np.arange(n, dtype=np.int32)[None, :]
    base = (y0 * (SIDE + 2) + x0) * n + cols  # int32 is enough: at most 900 * _CHUNK
    row = (SIDE + 2) * n
    top = flat[base] * (1 - fx) + flat[base + n] * fx
    bottom = flat[base + row] * (1 - fx) + flat[base + row + n] * fx
    return top * (1 - fy) + bottom * fy


TRANSFORMS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "shift": random_shift,
    "affine": random_affine,
    "elastic": functools.partial(random_affine, elastic=ELASTIC_ALPHA),
}
