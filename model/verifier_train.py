"""Train the one-digit verifier (``model.verifier``) on pieces cut from generated numbers.

    python -m model.verifier_train --data MNIST_DIR --out model/verifier/one_digit.npz --seed 0

Numbers of 2 or 3 MNIST *training* digits are laid out side by side (``compose``: touching, or
apart), and go through ``model.segment`` as a drawing would: shrunk to the working size, grouped,
and every group cut into all its candidate pieces (``segment.candidates``). Each piece is labelled
by how much of each true digit's ink it holds: ``ONE`` when it holds at least ``WHOLE`` of one
digit and at most ``SLIVER`` of any other, ``MANY`` when it holds at least ``WHOLE`` of two or
more, ``PART`` otherwise (a fragment, or a digit with a good part of its neighbour); pieces just
short of whole (between ``NEARLY`` and ``WHOLE``) are left out, being neither. The held-out set is
made the same way from MNIST *test* digits. Prints progress, the held-out accuracy and the
confusion; writes the weights atomically (``Network.save``) with the figures in their metadata.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from model import cli, segment
from model.data import load_mnist_split
from model.network import Network
from model.preprocess import ImageError
from model.segment import FEATURES
from model.shape import PIXELS
from model.verifier import CLASSES, MANY, ONE, PART, VERIFIER_WEIGHTS, inputs

WHOLE = 0.85  # a piece holding this share of a digit's ink holds that digit whole
NEARLY = 0.7  # ... and one holding between this and WHOLE is ambiguous: left out of training
SLIVER = 0.12  # a whole digit may carry this share of a neighbour's ink and still be one digit
TOUCHING = 0.75  # the share of training numbers whose digits touch (the rest are apart: whole digits)
# The training pieces are cut from starts this far apart (in H), coarser than segment.GRID_STEP: the
# shipped verifier was trained on these, and read touching numbers better through the finer grid the
# segmenter cuts with. (One trained the same way on 16,000 numbers for 30 epochs read touching numbers of
# seeds 5, 6 and 7 better still, by 1.4-3.6 points, but split more single digits of apart numbers:
# 0.75 points more of them on the test's seed, past its bound.)
TRAIN_GRID_STEP = 0.1

# The layout of a number (shared with scripts/number_images.py, which draws the tests' numbers).
SIZES = (0.8, 1.25)  # each digit is scaled by a factor drawn from this range ...
BASELINE = 2.0  # ... and moved up or down by up to this many MNIST pixels
APART_GAP = (4.0, 10.0)  # MNIST pixels between neighbours' ink boxes when apart
OVERLAP = 0.5  # touching: the strokes overlap by up to this many MNIST pixels past their first touch
TOUCH_LEVEL = 0.25  # the ink level at which strokes count as touching (INK_THRESHOLD's)


@dataclass(frozen=True)
class Layout:
    """A number's ink and where each digit's patch lies in it."""

    ink: np.ndarray  # (h, w) float32 in [0, 1], 0 = background (ink_map's form)
    tops: tuple[int, ...]
    lefts: tuple[int, ...]
    touched: tuple[bool, ...]  # for each pair of neighbours, whether their strokes overlap


def enlarge(image28: np.ndarray, factor: float) -> np.ndarray:
    """A (28, 28) uint8 MNIST image's ink enlarged ``factor`` times (bilinear, as a canvas
    rendering enlarges), cropped to the pixels with any ink: (h, w) float32 in [0, 1]."""
    pixels = np.asarray(image28)
    rows, cols = np.flatnonzero(pixels.any(axis=1)), np.flatnonzero(pixels.any(axis=0))
    crop = np.pad(pixels[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1], 1)  # edges fade as a canvas's do
    size = (max(1, round(crop.shape[1] * factor)), max(1, round(crop.shape[0] * factor)))
    big = np.asarray(Image.fromarray(crop, mode="L").resize(size, Image.Resampling.BILINEAR), dtype=np.float32) / 255
    rows, cols = np.flatnonzero(big.any(axis=1)), np.flatnonzero(big.any(axis=0))
    return big[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def compose(patches: Sequence[np.ndarray], rng: np.random.Generator, *, touching: bool, scale: float) -> Layout:
    """Lay ``patches`` (each (h, w) float32 ink) out left to right on a common baseline, each moved
    up or down by up to BASELINE MNIST pixels (``scale`` pixels each), with a margin.

    Apart: APART_GAP MNIST pixels between neighbours' boxes. Touching: each digit is placed where
    its strokes just meet its left neighbour's (some row has a pixel of at least TOUCH_LEVEL of
    both), then pushed into it by up to OVERLAP MNIST pixels more; of the vertical places the
    baseline allows, the one that needs the least overlap of the boxes is taken (so digits touch
    where their strokes come closest, as a quick hand joins them).
    """
    bottoms = [float(rng.uniform(-BASELINE, BASELINE)) * scale for _ in patches]
    margin = int(rng.integers(4, 16) * scale)
    tops = [round(b - p.shape[0]) for b, p in zip(bottoms, patches)]
    lefts = [0]
    touched = []
    for k in range(1, len(patches)):
        prev, nxt = patches[k - 1], patches[k]
        if touching:
            base = tops[k] + nxt.shape[0]  # its bottom as drawn, then the others the baseline allows
            spread = round(BASELINE * scale)
            options = [base + d for d in range(-spread, spread + 1, max(1, spread // 4))]
            reach = lefts[-1] + prev.shape[1]
            best = None
            for bottom in options:
                top = bottom - nxt.shape[0]
                left = _touching_left(prev, lefts[-1], tops[k - 1], nxt, top)
                if left is not None and (best is None or left > best[0]):
                    best = (left, top)
            if best is None:  # no rows in common: just abut the boxes
                best = (reach, tops[k])
            left, tops[k] = best
            left -= round(float(rng.uniform(0, OVERLAP)) * scale)
            touched.append(_overlap(prev, lefts[-1], tops[k - 1], nxt, left, tops[k]))
            lefts.append(left)
        else:
            lefts.append(lefts[-1] + prev.shape[1] + round(float(rng.uniform(*APART_GAP)) * scale))
            touched.append(False)
    shift_y, shift_x = margin - min(tops), margin - min(lefts)
    tops = [t + shift_y for t in tops]
    lefts = [x + shift_x for x in lefts]
    width = max(x + p.shape[1] for x, p in zip(lefts, patches)) + margin
    height = max(t + p.shape[0] for t, p in zip(tops, patches)) + margin
    ink = np.zeros((height, width), dtype=np.float32)
    for patch, top, left in zip(patches, tops, lefts):
        region = ink[top : top + patch.shape[0], left : left + patch.shape[1]]
        region += patch * (1 - region)  # ink over ink, as a canvas composites strokes of one colour
    return Layout(ink, tuple(tops), tuple(lefts), tuple(touched))


def _touching_left(a: np.ndarray, ax: int, ay: int, b: np.ndarray, by: int) -> int | None:
    """The largest left edge for patch ``b`` at row ``by`` at which its strokes (TOUCH_LEVEL) share
    a pixel with those of ``a`` at (ax, ay): in some common row, b's leftmost stroke pixel on a's
    rightmost. None when they have no stroke rows in common."""
    y0, y1 = max(ay, by), min(ay + a.shape[0], by + b.shape[0])
    if y1 <= y0:
        return None
    sa = a[y0 - ay : y1 - ay] >= TOUCH_LEVEL
    sb = b[y0 - by : y1 - by] >= TOUCH_LEVEL
    both = sa.any(axis=1) & sb.any(axis=1)
    if not both.any():
        return None
    right_a = a.shape[1] - 1 - np.argmax(sa[:, ::-1], axis=1)  # a's rightmost stroke column per row
    left_b = np.argmax(sb, axis=1)  # b's leftmost
    return int((ax + right_a - left_b)[both].max())


def _overlap(a: np.ndarray, ax: int, ay: int, b: np.ndarray, bx: int, by: int) -> bool:
    """Whether patches ``a`` at (ax, ay) and ``b`` at (bx, by) share a pixel of at least TOUCH_LEVEL."""
    x0, x1 = max(ax, bx), min(ax + a.shape[1], bx + b.shape[1])
    y0, y1 = max(ay, by), min(ay + a.shape[0], by + b.shape[0])
    if x1 <= x0 or y1 <= y0:
        return False
    wa = a[y0 - ay : y1 - ay, x0 - ax : x1 - ax] >= TOUCH_LEVEL
    wb = b[y0 - by : y1 - by, x0 - bx : x1 - bx] >= TOUCH_LEVEL
    return bool((wa & wb).any())


def labelled_pieces(
    images: np.ndarray, indices: Sequence[int], rng: np.random.Generator, *, touching: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The candidate pieces of one generated number of ``images[indices]`` (n, 28, 28) uint8:
    the verifier's inputs for them (m, PIXELS + FEATURES) float32 and labels (m,) (ONE, MANY or PART)."""
    scale = float(rng.uniform(3.0, 8.0))
    patches = [enlarge(images[i], scale * float(rng.uniform(*SIZES))) for i in indices]
    layout = compose(patches, rng, touching=touching, scale=scale)
    factor = segment.work_factor(layout.ink)
    small = segment._reduce(layout.ink, factor)
    # Each digit's own ink at the working size: (digits, h, w).
    layers = np.zeros((len(patches), *layout.ink.shape), dtype=np.float32)
    for k, (patch, top, left) in enumerate(zip(patches, layout.tops, layout.lefts)):
        layers[k, top : top + patch.shape[0], left : left + patch.shape[1]] = patch
    own = np.stack([segment._reduce(layer, factor) for layer in layers])
    try:
        groups, typical, _ = segment.find_groups(small)
    except ImageError:
        return np.zeros((0, PIXELS + FEATURES), np.float32), np.zeros(0, np.int64)
    out_images, out_features, out_labels = [], [], []
    for group in groups:
        h, w = group.ink.shape
        window = own[:, group.top : group.top + h, group.left : group.left + w] * (group.ink > 0)
        totals = window.sum(axis=(1, 2))
        if group.width <= segment.NARROW * typical and not group.joined:
            continue  # never cut: a thin digit or a stroke, not what the verifier judges
        found = segment.candidates(group, typical, TRAIN_GRID_STEP)
        for n, (image, feature) in enumerate(zip(found.images, found.features)):
            held = (window * found.mask(n)).sum(axis=(1, 2))
            share = np.where(totals > 0, held / np.maximum(totals, 1e-9), 0.0)
            whole = np.count_nonzero(share >= WHOLE)
            if whole >= 2:
                label = MANY
            elif whole == 1 and np.sort(share)[-2:-1].sum() <= SLIVER:
                label = ONE
            elif share.max() >= NEARLY and np.sort(share)[-2:-1].sum() <= SLIVER:
                continue  # nearly whole: neither one digit nor clearly a fragment
            else:
                label = PART
            out_images.append(image)
            out_features.append(feature)
            out_labels.append(label)
    if not out_images:
        return np.zeros((0, PIXELS + FEATURES), np.float32), np.zeros(0, np.int64)
    return inputs(np.stack(out_images), np.stack(out_features)).T, np.array(out_labels, dtype=np.int64)


def make_set(images: np.ndarray, numbers: int, rng: np.random.Generator, label: str) -> tuple[np.ndarray, np.ndarray]:
    """Pieces of ``numbers`` generated numbers of 2 or 3 of ``images`` (touching 3 in 4 of them):
    (PIXELS + FEATURES, m) float32 columns and (m,) labels."""
    xs, ys = [], []
    start = time.perf_counter()
    for n in range(numbers):
        indices = rng.integers(0, len(images), size=int(rng.integers(2, 4)))
        x, y = labelled_pieces(images, indices, rng, touching=bool(rng.random() < TOUCHING))
        xs.append(x)
        ys.append(y)
        if (n + 1) % 500 == 0 or n + 1 == numbers:
            count = sum(len(v) for v in ys)
            print(
                f"{label}: {n + 1}/{numbers} numbers, {count} pieces, {time.perf_counter() - start:.0f} s", flush=True
            )
    return np.concatenate(xs).T.copy(), np.concatenate(ys)


def balance(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, most: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """At most ``most`` times as many examples of a class as of the rarest (the rest dropped at random)."""
    counts = np.bincount(y, minlength=len(CLASSES))
    cap = int(most * counts[counts > 0].min())
    keep = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:cap] for c in range(len(CLASSES))])
    keep = rng.permutation(keep)
    return x[:, keep], y[keep]


def confusion(net: Network, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(classes, classes) counts: row the true class, column the predicted one."""
    predicted = net.predict(x)
    out = np.zeros((len(CLASSES), len(CLASSES)), dtype=np.int64)
    np.add.at(out, (y, predicted), 1)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m model.verifier_train", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the MNIST directory")
    parser.add_argument("--out", type=Path, default=VERIFIER_WEIGHTS, help=f"weights (default {VERIFIER_WEIGHTS})")
    parser.add_argument("--seed", type=int, default=0, help="seeds the numbers, the split and the weights")
    parser.add_argument("--numbers", type=int, default=8000, help="training numbers (default 8000)")
    parser.add_argument("--held-out", type=int, default=300, help="held-out numbers of test digits (default 300)")
    parser.add_argument("--hidden", type=int, default=300, help="hidden units (default 300)")
    parser.add_argument("--epochs", type=int, default=20, help="epochs (default 20)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    train = load_mnist_split(args.data, "train")
    test = load_mnist_split(args.data, "t10k")
    x, y = balance(*make_set(train.images, args.numbers, rng, "training pieces"), rng)
    hx, hy = make_set(test.images, args.held_out, np.random.default_rng(args.seed + 1), "held-out pieces")
    print(f"training on {y.size} pieces ({dict(zip(CLASSES, np.bincount(y, minlength=3).tolist()))})", flush=True)
    net = Network(
        [PIXELS + FEATURES, args.hidden, len(CLASSES)], cost="cross-entropy", activation="relu", seed=args.seed
    )

    def report(record) -> None:
        print(f"epoch {record.epoch}/{args.epochs}: held-out accuracy {record.validation_accuracy:.2%}", flush=True)

    net.SGD((x, y), args.epochs, 32, 0.05, (hx, hy), lmbda=1.0, momentum=0.9, schedule="cosine", on_epoch=report)
    table = confusion(net, hx, hy)
    accuracy = float(np.trace(table) / table.sum())
    one_recall = float(table[ONE, ONE] / max(table[ONE].sum(), 1))
    one_precision = float(table[ONE, ONE] / max(table[:, ONE].sum(), 1))
    print(
        f"held-out: {hy.size} pieces, accuracy {accuracy:.2%}; "
        f"ONE recall {one_recall:.2%}, precision {one_precision:.2%}"
    )
    print("confusion (rows true, columns read): " + ", ".join(CLASSES))
    for name, row in zip(CLASSES, table):
        print(f"  {name:>5} {row.tolist()}")
    net.metadata = {
        "kind": "one-digit verifier",
        "classes": list(CLASSES),
        "seed": args.seed,
        "numbers": args.numbers,
        "held_out_accuracy": accuracy,
        "held_out_pieces": int(hy.size),
        "command": "python -m model.verifier_train " + " ".join(sys.argv[1:] if argv is None else argv),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    net.save(args.out)
    print(f"wrote {args.out} in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
