"""Shared fixtures: where the MNIST files are, and the data sets read from them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The folder with the four MNIST .gz files: $MNIST_DIR, else ../shared/data/mnist.

    Missing data fails the test under CI (where .ci/run sets MNIST_DIR) and skips it elsewhere.
    """
    path = Path(os.environ.get("MNIST_DIR") or ROOT.parent / "shared" / "data" / "mnist")
    if not (path / "train-images-idx3-ubyte.gz").is_file():
        message = f"MNIST files not found in {path} (set MNIST_DIR)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path
