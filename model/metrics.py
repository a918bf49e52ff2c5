"""Measures of a classifier's answers: confusion matrix, per-class accuracy, text tables."""

from __future__ import annotations

import numpy as np

from model.shape import CLASSES


def confusion_matrix(true_labels: np.ndarray, predicted: np.ndarray, k: int = CLASSES) -> np.ndarray:
    """(k, k) int64 counts: row = true label, column = predicted label."""
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (np.asarray(true_labels), np.asarray(predicted)), 1)
    return matrix


def per_class_accuracy(matrix: np.ndarray) -> list[float | None]:
    """Fraction of each true class classified right (None for a class with no examples)."""
    totals = matrix.sum(axis=1)
    return [float(matrix[i, i] / t) if t else None for i, t in enumerate(totals)]


def format_confusion(matrix: np.ndarray) -> str:
    """The confusion matrix as a text table with per-class accuracy at the end of each row."""
    k = len(matrix)
    width = max(5, len(f"{int(matrix.max()):,}") + 1)
    lines = ["true\\pred" + "".join(f"{j:>{width}}" for j in range(k)) + "  accuracy"]
    for i, acc in enumerate(per_class_accuracy(matrix)):
        cells = "".join(f"{int(c):>{width},}" for c in matrix[i])
        lines.append(f"{i:>9}" + cells + (f"  {acc:8.2%}" if acc is not None else "         -"))
    return "\n".join(lines)
