"""The report figures: each writes a real, non-blank PNG, atomically, and copes with edge cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.figures import confusion_matrix_figure, mistakes_grid, training_curves


def _history(epochs: int, validation: bool = True) -> list[dict]:
    records = []
    for e in range(1, epochs + 1):
        progress = 1 - np.exp(-e / 6)
        records.append(
            {
                "epoch": e,
                "eta": 0.1,
                "cost": float(0.4 * np.exp(-e / 8) + 0.03),
                "train_accuracy": float(0.95 + 0.045 * progress),
                "test_accuracy": float(0.955 + 0.037 * progress) if validation else None,
            }
        )
    return records


def _matrix(errors: bool = True) -> np.ndarray:
    m = np.diag([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    if errors:
        m[4, 9], m[7, 2], m[3, 5], m[9, 4], m[8, 3] = 12, 9, 7, 5, 1
    return m


def _mistakes(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    true = rng.integers(0, 10, n)
    return images, true, (true + 1) % 10


def _open(path: Path) -> Image.Image:
    with Image.open(path) as img:
        assert img.format == "PNG"
        img.load()
        return img


def _colour_count(img: Image.Image) -> int:
    return len(img.getcolors(maxcolors=1 << 24))


def _pixels(path: Path) -> bytes:
    return _open(path).convert("RGB").tobytes()


# Each entry draws one figure at the given path.
FIGURES = {
    "training_curves": lambda p: training_curves(_history(30), p, title="30 epochs"),
    "training_curves_one_epoch": lambda p: training_curves(_history(1), p),
    "training_curves_no_validation": lambda p: training_curves(_history(5, validation=False), p),
    "confusion_matrix": lambda p: confusion_matrix_figure(_matrix(), p, title="test set"),
    "confusion_matrix_diagonal_only": lambda p: confusion_matrix_figure(_matrix(errors=False), p),
    "confusion_matrix_all_zero": lambda p: confusion_matrix_figure(np.zeros((10, 10), int), p),
    "mistakes_grid": lambda p: mistakes_grid(*_mistakes(40), p),
    "mistakes_grid_none": lambda p: mistakes_grid(*_mistakes(0), p),
}

CURVES, MATRIX = (900, 1100, 400, 520), (600, 900, 600, 900)


@pytest.mark.parametrize(
    ("name", "bounds", "min_colours"),
    [
        # (min width, max width, min height, max height). Text is antialiased, so even the
        # plainest figure has a few shades; the ones with coloured elements have many more.
        ("training_curves", CURVES, 20),
        ("training_curves_one_epoch", CURVES, 20),
        ("training_curves_no_validation", CURVES, 20),
        ("confusion_matrix", MATRIX, 20),
        ("confusion_matrix_diagonal_only", MATRIX, 20),
        ("confusion_matrix_all_zero", MATRIX, 10),
        ("mistakes_grid", (800, 1300, 300, 700), 50),  # 4 rows of ten 84-pixel digits
        ("mistakes_grid_none", (100, 400, 30, 150), 4),
    ],
)
def test_figure_is_a_non_blank_rgb_png_of_plausible_size(
    tmp_path: Path, name: str, bounds: tuple[int, int, int, int], min_colours: int
) -> None:
    path = tmp_path / "figure.png"
    FIGURES[name](path)
    img = _open(path)
    assert img.mode == "RGB"
    w_lo, w_hi, h_lo, h_hi = bounds
    assert w_lo <= img.width <= w_hi and h_lo <= img.height <= h_hi, img.size
    assert _colour_count(img) >= min_colours


@pytest.mark.parametrize("name", FIGURES)
def test_writing_leaves_only_the_figure_behind(tmp_path: Path, name: str) -> None:
    path = tmp_path / "figure.png"
    path.write_bytes(b"an older figure")
    FIGURES[name](path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure.png"]
    _open(path)  # the old bytes were replaced by a whole PNG


def test_training_curves_show_whether_there_is_validation_data(tmp_path: Path) -> None:
    training_curves(_history(5), tmp_path / "with.png")
    training_curves(_history(5, validation=False), tmp_path / "without.png")
    assert _pixels(tmp_path / "with.png") != _pixels(tmp_path / "without.png")


def test_training_curves_accept_validation_measured_only_some_epochs(tmp_path: Path) -> None:
    history = _history(12)
    for record in history[::3]:
        record["test_accuracy"] = None
    training_curves(history, tmp_path / "sparse.png")
    training_curves(_history(12), tmp_path / "full.png")
    assert _pixels(tmp_path / "sparse.png") != _pixels(tmp_path / "full.png")


def test_training_curves_reject_an_empty_history(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty"):
        training_curves([], tmp_path / "figure.png")
    assert not (tmp_path / "figure.png").exists()


def test_confusion_matrix_figure_changes_with_the_matrix(tmp_path: Path) -> None:
    changed = _matrix()
    changed[2, 7] += 3
    confusion_matrix_figure(_matrix(), tmp_path / "a.png")
    confusion_matrix_figure(_matrix(), tmp_path / "b.png")
    confusion_matrix_figure(changed, tmp_path / "c.png")
    assert _pixels(tmp_path / "a.png") == _pixels(tmp_path / "b.png")  # deterministic
    assert _pixels(tmp_path / "a.png") != _pixels(tmp_path / "c.png")


def test_confusion_matrix_errors_are_coloured_differently_from_correct_answers(tmp_path: Path) -> None:
    # With no errors, the off-diagonal cells stay white; one error brings in a new hue.
    confusion_matrix_figure(_matrix(errors=False), tmp_path / "clean.png")
    confusion_matrix_figure(_matrix(), tmp_path / "errors.png")

    def reddish(path: Path) -> int:
        rgb = np.asarray(_open(path).convert("RGB"), dtype=int)
        return int(np.sum((rgb[..., 0] > 150) & (rgb[..., 0] - rgb[..., 2] > 60)))

    assert reddish(tmp_path / "errors.png") > 10 * reddish(tmp_path / "clean.png") + 100


@pytest.mark.parametrize("shape", [(10,), (10, 9), (0, 0), (2, 10, 10)])
def test_confusion_matrix_figure_rejects_non_square_input(tmp_path: Path, shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="square"):
        confusion_matrix_figure(np.zeros(shape, int), tmp_path / "figure.png")


def test_mistakes_grid_grows_with_the_number_of_mistakes_up_to_the_limit(tmp_path: Path) -> None:
    limit = 30
    areas = {}
    for n in (3, 7, 10, 15, 30, 45):
        path = tmp_path / f"{n}.png"
        mistakes_grid(*_mistakes(n), path, columns=10, limit=limit)
        img = _open(path)
        areas[n] = img.width * img.height
    assert areas[3] < areas[7] < areas[10] < areas[15] < areas[30]
    assert areas[45] == areas[30]


def test_mistakes_grid_shows_the_digits_enlarged(tmp_path: Path) -> None:
    # One all-black digit: the figure must contain a black square at least 3 x 28 pixels wide.
    mistakes_grid(np.zeros((1, 28, 28), np.uint8), [7], [1], tmp_path / "figure.png")
    dark = np.asarray(_open(tmp_path / "figure.png").convert("L")) < 10
    rows = np.flatnonzero(dark.any(axis=1))
    cols = np.flatnonzero(dark.any(axis=0))
    assert rows.size >= 84 and cols.size >= 84
    assert dark[rows[0] : rows[0] + 84, cols[0] : cols[0] + 84].all()


def test_mistakes_grid_with_no_mistakes_is_small(tmp_path: Path) -> None:
    mistakes_grid(*_mistakes(0), tmp_path / "none.png")
    mistakes_grid(*_mistakes(1), tmp_path / "one.png")
    none, one = _open(tmp_path / "none.png"), _open(tmp_path / "one.png")
    assert none.width * none.height < one.width * one.height


def test_mistakes_grid_rejects_mismatched_labels(tmp_path: Path) -> None:
    images, true, predicted = _mistakes(5)
    with pytest.raises(ValueError, match="labels"):
        mistakes_grid(images, true[:4], predicted, tmp_path / "figure.png")
