"""Data augmentation: shapes, determinism, and that distortions move ink as they should."""

from __future__ import annotations

import numpy as np
import pytest

from model.augment import TRANSFORMS, random_affine, random_shift


def dot_images(n: int, row: int = 14, col: int = 14) -> np.ndarray:
    images = np.zeros((28, 28, n), np.float32)
    images[row, col] = 1
    return images.reshape(784, n)


def centre_of_mass(X: np.ndarray) -> np.ndarray:
    images = X.reshape(28, 28, -1)
    rows, cols = np.mgrid[0:28, 0:28]
    mass = images.sum(axis=(0, 1))
    return np.stack([(images * rows[..., None]).sum((0, 1)) / mass, (images * cols[..., None]).sum((0, 1)) / mass])


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_shape_dtype_range_and_seeded(name):
    X = np.random.default_rng(0).random((784, 300)).astype(np.float32)
    a = TRANSFORMS[name](X, np.random.default_rng(1))
    b = TRANSFORMS[name](X, np.random.default_rng(1))
    assert a.shape == X.shape and a.dtype == X.dtype
    assert a.min() >= 0 and a.max() <= 1
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, TRANSFORMS[name](X, np.random.default_rng(2)))
    assert not np.array_equal(a, X)


def test_shift_moves_each_image_by_whole_pixels_within_range():
    X = dot_images(500)
    shifted = random_shift(X, np.random.default_rng(0), max_shift=2)
    assert np.all(shifted.sum(axis=0) == 1)  # a dot in the middle is never pushed out
    moves = centre_of_mass(shifted) - 14
    assert np.all(np.abs(moves) <= 2) and np.all(moves == np.round(moves))
    assert {int(m) for m in moves[0]} == {-2, -1, 0, 1, 2}


def test_affine_identity_and_pure_translation():
    X = np.random.default_rng(3).random((784, 20)).astype(np.float32)
    same = random_affine(X, np.random.default_rng(0), max_shift=0, max_rotation=0, max_scale=0, max_shear=0)
    np.testing.assert_allclose(same, X, atol=1e-6)
    dots = dot_images(200)
    moved = random_affine(dots, np.random.default_rng(0), max_shift=2, max_rotation=0, max_scale=0, max_shear=0)
    np.testing.assert_allclose(moved.sum(axis=0), 1, rtol=1e-5)  # bilinear keeps the ink
    assert np.all(np.abs(centre_of_mass(moved) - 14) <= 2 + 1e-4)


def test_affine_rotation_keeps_centre_and_moves_off_centre_ink():
    dots = dot_images(200, row=14, col=24)
    rotated = random_affine(dots, np.random.default_rng(0), max_shift=0, max_rotation=30, max_scale=0, max_shear=0)
    com = centre_of_mass(rotated)
    radius = np.hypot(com[0] - 13.5, com[1] - 13.5)
    np.testing.assert_allclose(radius, np.hypot(0.5, 10.5), atol=0.3)  # rotation about the centre
    assert np.ptp(com[0]) > 5  # and by different angles
