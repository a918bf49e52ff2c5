"""The MNIST data set as published: its four files, each with the MD5 of its uncompressed contents.

``model.data`` finds and reads them; ``model.download`` fetches and verifies them.
"""

import os
from pathlib import Path

MNIST_FILES = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}


def default_dir() -> Path:
    """Where the tests, benchmarks and demos look for the files: ``$MNIST_DIR``, else
    ``../shared/data/mnist`` beside the repository (not the current folder)."""
    return Path(os.environ.get("MNIST_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist")
