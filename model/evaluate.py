"""Measure saved weights on a labelled data set.

    python -m model.evaluate --data ../shared/data/mnist [--weights model/digits.npz]

For an MNIST folder the 10,000 test images are used (``--split train`` for the 60,000
training images); a Kaggle ``train.csv`` is used whole. Prints the accuracy, the accuracy of
each digit and the confusion matrix (``--json`` for the same as JSON).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from model import cli, data
from model.metrics import confusion_matrix, format_confusion, per_class_accuracy
from model.network import DEFAULT_WEIGHTS, Network, WeightsError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m model.evaluate", description=cli.description(__doc__))
    p.add_argument("--data", type=Path, required=True, help="an MNIST folder or a labelled Kaggle train.csv")
    p.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help=f"default: {DEFAULT_WEIGHTS}")
    p.add_argument("--split", choices=["test", "train"], default="test", help="which MNIST half (default test)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    return p


def evaluate(net: Network, dataset: data.Dataset) -> dict[str, Any]:
    """Accuracy, per-class accuracy and confusion matrix of ``net`` on a labelled data set."""
    return scores(dataset.labels, predicted_labels(net, dataset))


def predicted_labels(net: Network, dataset: data.Dataset) -> np.ndarray:
    """``net``'s answer for each image of ``dataset`` (n, 28, 28): labels of shape (n,)."""
    return net.predict(data.to_columns(dataset.images, net.dtype.name))


def scores(true_labels: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """``images``, ``correct``, ``accuracy``, ``per_class_accuracy`` and ``confusion_matrix``
    (as lists, for JSON) of the answers ``predicted`` against ``true_labels``, both (n,)."""
    matrix = confusion_matrix(true_labels, predicted)
    return {
        "images": int(matrix.sum()),
        "correct": int(np.trace(matrix)),
        "accuracy": float(np.trace(matrix) / matrix.sum()),
        "per_class_accuracy": per_class_accuracy(matrix),
        "confusion_matrix": matrix.tolist(),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation CLI; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        net = Network.load(args.weights)
        if args.data.is_dir():
            dataset = data.load_mnist_split(args.data, "t10k" if args.split == "test" else "train")
        else:
            dataset = data.read_kaggle_csv(args.data)
            if dataset.labels is None:
                raise data.DataError(args.data, "row 1", "has no label column: evaluation needs labelled data")
    except (data.DataError, WeightsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    result = evaluate(net, dataset)
    if args.json:
        print(json.dumps({"weights": str(args.weights), "data": str(args.data), **result}, indent=1))
        return 0
    print(f"{args.weights}: {'-'.join(map(str, net.sizes))}, {net.activation} hidden, {net.cost} cost")
    print(f"accuracy {result['accuracy']:.2%} ({result['correct']:,} of {result['images']:,}) on {args.data}")
    print(format_confusion(np.asarray(result["confusion_matrix"])))
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
