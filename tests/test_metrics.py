"""Confusion matrix and per-class accuracy."""

from __future__ import annotations

import numpy as np

from model.metrics import confusion_matrix, format_confusion, per_class_accuracy


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    matrix = confusion_matrix(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 2, 0]), k=3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert per_class_accuracy(matrix) == [0.5, 1.0, 2 / 3]


def test_class_without_examples_has_no_accuracy():
    matrix = confusion_matrix(np.array([0, 1]), np.array([0, 0]), k=3)
    assert per_class_accuracy(matrix) == [1.0, 0.0, None]
    table = format_confusion(matrix)
    assert table.splitlines()[0].startswith("true\\pred")
    assert table.splitlines()[1].endswith("100.00%") and table.splitlines()[3].endswith("-")
