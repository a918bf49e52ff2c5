"""How well whole numbers are read: generated numbers of MNIST test digits through ``read_number``.

    MNIST_DIR=... python benchmarks/number_accuracy.py [--n 1000] [--seed 0] [--weights PATH]

For ``n`` numbers apart and ``n`` touching (``scripts/number_images.py``: 2 to 6 digits, random gaps,
sizes and baselines), it prints:

- exact: the share of numbers read exactly (every digit, no digit more or fewer);
- product: the share of numbers whose every digit the network reads right from that digit's own
  28x28 MNIST image, the rate a perfect segmentation would reach;
- the difference in points (exact - product);
- per digit: the share of the true digits read right at their place (the reading aligned to the
  truth by edit distance, so one lost digit does not count the rest as wrong);
- ms per number: decoding, segmenting and reading (the generator's time excluded);
- pairs touch: the share of neighbouring digits whose strokes touch or overlap.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model import cli
from model.data import load_mnist_split
from model.mnist import default_dir
from model.network import DEFAULT_WEIGHTS, Network
from model.predict import read_number
from model.preprocess import ImageError
from model.shape import PIXELS
from scripts.number_images import aligned_correct, make_number


def measure(net: Network, images: np.ndarray, labels: np.ndarray, n: int, seed: int, touching: bool) -> dict:
    """Read ``n`` generated numbers (seeded by ``seed``); the figures as a dict."""
    rng = np.random.default_rng(seed)
    single = net.predict(images.reshape(len(images), PIXELS).T / 255.0) == labels  # (n_images,)
    exact = product = digits = right = touched = pairs = 0
    seconds = 0.0
    for _ in range(n):
        number = make_number(images, labels, rng, touching=touching)
        start = time.perf_counter()
        try:
            text = read_number(net, number.png).text
        except ImageError:
            text = ""
        seconds += time.perf_counter() - start
        exact += text == number.text
        product += bool(single[list(number.indices)].all())
        digits += len(number.text)
        right += aligned_correct(number.text, text)
        touched += sum(number.touched)
        pairs += len(number.touched)
    return {
        "exact": 100 * exact / n,
        "product": 100 * product / n,
        "per_digit": 100 * right / digits,
        "ms": 1000 * seconds / n,
        "touch": 100 * touched / max(pairs, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="numbers of each kind (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="the generator's seed (default 0)")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    args = parser.parse_args(argv)
    net = Network.load(args.weights)
    test = load_mnist_split(default_dir(), "t10k")
    print(f"{args.n} numbers of 2-6 MNIST test digits each, seed {args.seed}, weights {args.weights.name}")
    print(f"{'':>9} {'exact':>7} {'product':>8} {'diff':>7} {'per digit':>10} {'ms/number':>10} {'pairs touch':>12}")
    for touching in (False, True):
        r = measure(net, test.images, test.labels, args.n, args.seed, touching)
        name = "touching" if touching else "apart"
        print(
            f"{name:>9} {r['exact']:6.1f}% {r['product']:7.1f}% {r['exact'] - r['product']:+7.1f} "
            f"{r['per_digit']:9.1f}% {r['ms']:10.2f} {r['touch']:11.1f}%"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
