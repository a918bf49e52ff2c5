"""The report figures and their redraw command: whole PNGs of a README's size, written atomically,
the same bytes for the same data and other bytes for other data. Pixels are matplotlib's affair."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from model import data
from model.figures import confusion_matrix_figure, main, mistakes_grid, network_title, training_curves
from model.metrics import confusion_matrix
from model.network import Network
from model.shape import CLASSES, PIXELS, SIDE
from tests.support.paths import ROOT


def _history(epochs: int, validation: bool = True, key: str = "validation_accuracy") -> list[dict]:
    records = []
    for e in range(1, epochs + 1):
        progress = 1 - np.exp(-e / 6)
        records.append(
            {
                "epoch": e,
                "eta": 0.1,
                "cost": float(0.4 * np.exp(-e / 8) + 0.03),
                "train_accuracy": float(0.95 + 0.045 * progress),
                key: float(0.955 + 0.037 * progress) if validation else None,
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
    images = rng.integers(0, 256, (n, SIDE, SIDE), dtype=np.uint8)
    true = rng.integers(0, CLASSES, n)
    return images, true, (true + 1) % CLASSES


def _size(path: Path) -> tuple[int, int]:
    """The size of a whole, readable PNG."""
    with Image.open(path) as img:
        assert img.format == "PNG"
        img.load()  # decodes every row: a truncated file fails here
        return img.size


# Each entry draws one figure at the given path.
FIGURES: dict[str, Callable[[Path], None]] = {
    "training_curves": lambda p: training_curves(_history(30), p, title="30 epochs"),
    "training_curves_one_epoch": lambda p: training_curves(_history(1), p),
    "training_curves_no_validation": lambda p: training_curves(_history(5, validation=False), p),
    "confusion_matrix": lambda p: confusion_matrix_figure(_matrix(), p, title="test set"),
    "confusion_matrix_diagonal_only": lambda p: confusion_matrix_figure(_matrix(errors=False), p),
    "confusion_matrix_all_zero": lambda p: confusion_matrix_figure(np.zeros((CLASSES, CLASSES), int), p),
    "confusion_matrix_2x2": lambda p: confusion_matrix_figure([[5, 1], [0, 3]], p),
    "mistakes_grid": lambda p: mistakes_grid(*_mistakes(40), p),
    "mistakes_grid_float_rows": lambda p: mistakes_grid(
        _mistakes(3)[0].reshape(3, PIXELS) / 255, [1, 2, 3], [4, 5, 6], p
    ),
    "mistakes_grid_none": lambda p: mistakes_grid(*_mistakes(0), p),
}

CURVES, MATRIX = (900, 1100, 400, 520), (600, 900, 600, 900)


@pytest.mark.parametrize(
    ("name", "bounds"),
    [
        # (min width, max width, min height, max height): wide enough to read, small enough for a README.
        ("training_curves", CURVES),
        ("training_curves_one_epoch", CURVES),
        ("training_curves_no_validation", CURVES),
        ("confusion_matrix", MATRIX),
        ("confusion_matrix_diagonal_only", MATRIX),
        ("confusion_matrix_all_zero", MATRIX),
        ("confusion_matrix_2x2", MATRIX),
        ("mistakes_grid", (800, 1300, 300, 700)),  # 4 rows of ten 84-pixel digits
        ("mistakes_grid_float_rows", (250, 600, 100, 300)),  # one row of three
        ("mistakes_grid_none", (100, 400, 30, 150)),
    ],
)
def test_figure_is_a_png_of_plausible_size(tmp_path: Path, name: str, bounds: tuple[int, int, int, int]) -> None:
    path = tmp_path / "figure.png"
    FIGURES[name](path)
    width, height = _size(path)
    w_lo, w_hi, h_lo, h_hi = bounds
    assert w_lo <= width <= w_hi and h_lo <= height <= h_hi, (width, height)


@pytest.mark.parametrize("name", FIGURES)
def test_a_figure_replaces_the_old_file_and_leaves_nothing_else(tmp_path: Path, name: str) -> None:
    path = tmp_path / "figure.png"
    path.write_bytes(b"an older figure")
    FIGURES[name](path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure.png"]
    _size(path)  # the old bytes were replaced by a whole PNG


@pytest.mark.parametrize("name", FIGURES)
def test_the_same_data_draws_the_same_bytes(tmp_path: Path, name: str) -> None:
    FIGURES[name](tmp_path / "a.png")
    FIGURES[name](tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


@pytest.mark.parametrize("name", ["training_curves", "confusion_matrix", "mistakes_grid"])
def test_a_failed_write_keeps_the_old_figure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    def half_a_png(self: Figure, f, **kwargs) -> None:
        f.write(b"\x89PNG\r\n\x1a\n half")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", half_a_png)
    path = tmp_path / "figure.png"
    path.write_bytes(b"the old figure")
    with pytest.raises(OSError, match="disk full"):
        FIGURES[name](path)
    assert path.read_bytes() == b"the old figure"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure.png"]


def _bytes(draw: Callable[[Path], None], path: Path) -> bytes:
    draw(path)
    return path.read_bytes()


def test_training_curves_depend_on_the_history(tmp_path: Path) -> None:
    base = _bytes(lambda p: training_curves(_history(12), p), tmp_path / "base.png")
    changed = _history(12)
    changed[5]["cost"] *= 1.5
    sparse = _history(12)
    for record in sparse[::3]:
        record["validation_accuracy"] = None
    variants = {
        "cost": lambda p: training_curves(changed, p),
        "sparse validation": lambda p: training_curves(sparse, p),
        "no validation": lambda p: training_curves(_history(12, validation=False), p),
        "more epochs": lambda p: training_curves(_history(13), p),
        "title": lambda p: training_curves(_history(12), p, title="a title"),
    }
    for what, draw in variants.items():
        assert _bytes(draw, tmp_path / "variant.png") != base, what


def test_training_curves_read_the_old_name_of_the_validation_accuracy(tmp_path: Path) -> None:
    new = _bytes(lambda p: training_curves(_history(8), p), tmp_path / "new.png")
    old = _bytes(lambda p: training_curves(_history(8, key="test_accuracy"), p), tmp_path / "old.png")
    none = _bytes(lambda p: training_curves(_history(8, validation=False), p), tmp_path / "none.png")
    assert old == new != none


def test_confusion_matrix_figure_depends_on_the_counts(tmp_path: Path) -> None:
    changed = _matrix()
    changed[2, 7] += 3
    base = _bytes(lambda p: confusion_matrix_figure(_matrix(), p), tmp_path / "a.png")
    assert _bytes(lambda p: confusion_matrix_figure(changed, p), tmp_path / "b.png") != base
    assert _bytes(lambda p: confusion_matrix_figure(_matrix(errors=False), p), tmp_path / "c.png") != base


def test_mistakes_grid_depends_on_the_digits_and_their_labels(tmp_path: Path) -> None:
    images, true, predicted = _mistakes(12)
    base = _bytes(lambda p: mistakes_grid(images, true, predicted, p), tmp_path / "a.png")
    other_images = images.copy()
    other_images[3] = 255 - other_images[3]
    other_predicted = predicted.copy()
    other_predicted[5] = (other_predicted[5] + 1) % CLASSES
    assert _bytes(lambda p: mistakes_grid(other_images, true, predicted, p), tmp_path / "b.png") != base
    assert _bytes(lambda p: mistakes_grid(images, true, other_predicted, p), tmp_path / "c.png") != base


def test_mistakes_grid_grows_with_the_number_of_mistakes_up_to_the_limit(tmp_path: Path) -> None:
    areas = {}
    for n in (0, 1, 3, 7, 10, 15, 30, 45):
        path = tmp_path / f"{n}.png"
        mistakes_grid(*_mistakes(n), path, columns=10, limit=30)
        width, height = _size(path)
        areas[n] = width * height
    assert areas[0] < areas[1] <= areas[3] < areas[7] < areas[10] < areas[15] < areas[30] == areas[45]


def test_bad_input_raises_before_anything_is_written(tmp_path: Path) -> None:
    path = tmp_path / "figure.png"
    images, true, predicted = _mistakes(5)
    cases = [
        (lambda: training_curves([], path), "empty"),
        (lambda: confusion_matrix_figure(np.zeros((10, 9), int), path), "square"),
        (lambda: confusion_matrix_figure(np.zeros((0, 0), int), path), "square"),
        (lambda: confusion_matrix_figure(np.zeros((2, 10, 10), int), path), "square"),
        (lambda: confusion_matrix_figure(-np.eye(3, dtype=int), path), "negative"),
        (lambda: mistakes_grid(images, true[:4], predicted, path), "labels"),
        (lambda: mistakes_grid(images[:, 0], true, predicted, path), "shape"),  # (n, 28) rows are no images
        (lambda: mistakes_grid(images[None], true, predicted, path), "shape"),
        (lambda: mistakes_grid(images, true, predicted, path, columns=0), "columns"),
    ]
    for draw, message in cases:
        with pytest.raises(ValueError, match=message):
            draw()
        assert not path.exists()


# -- the redraw command ------------------------------------------------------------------------


@pytest.fixture
def saved_model(tmp_path: Path) -> tuple[Path, Path]:
    """A small untrained model saved as the trainer saves one, and an MNIST-like t10k set of 60 digits."""
    rng = np.random.default_rng(0)
    data_dir = tmp_path / "mnist"
    data_dir.mkdir()
    images = rng.integers(0, 256, (60, SIDE, SIDE), dtype=np.uint8)
    labels = rng.integers(0, CLASSES, 60).astype(np.uint8)
    data.write_idx(data_dir / "t10k-images-idx3-ubyte", images)
    data.write_idx(data_dir / "t10k-labels-idx1-ubyte", labels)

    net = Network([PIXELS, 8, CLASSES], seed=0)
    weights = tmp_path / "run" / "small.npz"
    weights.parent.mkdir()
    net.save(weights)
    predicted = net.predict(data.to_columns(images, net.dtype.name))
    metrics = {"history": _history(6), "confusion_matrix": confusion_matrix(labels, predicted).tolist()}
    (tmp_path / "run" / "small.metrics.json").write_text(json.dumps(metrics))
    return weights, data_dir


def _figures(weights: Path) -> dict[str, Path]:
    return {kind: weights.with_suffix(f".{kind}.png") for kind in ("curves", "confusion", "mistakes")}


def test_redraw_draws_the_three_figures_from_what_was_saved(
    saved_model: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights, data_dir = saved_model
    assert main([str(weights), "--data", str(data_dir)]) == 0
    out = capsys.readouterr().out
    paths = _figures(weights)
    assert all(str(p) in out for p in paths.values()), out

    # The same figures as the trainer would draw, from the same history, matrix and mistakes.
    net = Network.load(weights)
    metrics = json.loads(weights.with_suffix(".metrics.json").read_text())
    test = data.load_mnist_split(data_dir, "t10k")
    predicted = net.predict(data.to_columns(test.images))
    wrong = predicted != test.labels
    assert wrong.any()
    title = network_title(net)
    expected = {
        "curves": lambda p: training_curves(metrics["history"], p, title=title),
        "confusion": lambda p: confusion_matrix_figure(metrics["confusion_matrix"], p, title=title),
        "mistakes": lambda p: mistakes_grid(test.images[wrong], test.labels[wrong], predicted[wrong], p),
    }
    for kind, draw in expected.items():
        assert paths[kind].read_bytes() == _bytes(draw, tmp_path / f"expected.{kind}.png"), kind


def test_redraw_without_a_confusion_matrix_draws_only_the_curves(saved_model: tuple[Path, Path]) -> None:
    weights, data_dir = saved_model
    metrics_path = weights.with_suffix(".metrics.json")
    metrics_path.write_text(json.dumps({"history": _history(3)}))
    assert main([str(weights), "--data", str(data_dir / "nowhere")]) == 0
    assert sorted(p.name for p in weights.parent.iterdir()) == ["small.curves.png", "small.metrics.json", "small.npz"]


def _break_metrics(text: str) -> Callable[[Path, Path], list[str]]:
    def apply(weights: Path, data_dir: Path) -> list[str]:
        weights.with_suffix(".metrics.json").write_text(text)
        return [str(weights), "--data", str(data_dir)]

    return apply


def _other_labels(weights: Path, data_dir: Path) -> list[str]:
    labels = data.read_idx_labels(data_dir / "t10k-labels-idx1-ubyte")
    data.write_idx(data_dir / "t10k-labels-idx1-ubyte", ((labels + 1) % CLASSES).astype(np.uint8))
    return [str(weights), "--data", str(data_dir)]


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda w, d: [str(w.with_name("missing.npz")), "--data", str(d)], "missing.metrics.json: no such file"),
        (lambda w, d: (w.write_bytes(b"not a zip"), [str(w), "--data", str(d)])[1], "small.npz: is truncated"),
        (lambda w, d: [str(w), "--data", str(d / "nowhere")], "nowhere"),
        (_break_metrics("{not json"), "not valid JSON"),
        (_break_metrics('{"history": []}'), "no per-epoch 'history'"),
        (_break_metrics("[1, 2]"), "no per-epoch 'history'"),
        (_break_metrics(json.dumps({"history": _history(2), "confusion_matrix": [[1, 2], [3, 4]]})), "shape"),
        (_other_labels, "do not match the saved confusion matrix"),
    ],
    ids=[
        "no metrics",
        "bad weights",
        "no data",
        "bad JSON",
        "empty history",
        "not a mapping",
        "bad matrix",
        "other data",
    ],
)
def test_redraw_reports_a_missing_or_bad_file_and_writes_nothing(
    saved_model: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    breakage: Callable[[Path, Path], list[str]],
    message: str,
) -> None:
    weights, data_dir = saved_model
    argv = breakage(weights, data_dir)
    for path in _figures(weights).values():
        path.write_bytes(b"the committed figure")
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert message in captured.err and captured.err.startswith("error: "), captured.err
    assert captured.out == ""
    assert all(p.read_bytes() == b"the committed figure" for p in _figures(weights).values())


def _command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "model.figures", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_the_module_runs_as_a_command(saved_model: tuple[Path, Path]) -> None:
    weights, data_dir = saved_model
    ok = _command(str(weights), "--data", str(data_dir))
    assert ok.returncode == 0 and "wrote" in ok.stdout, ok.stderr
    assert all(_size(p) for p in _figures(weights).values())
    missing = _command(str(weights.with_name("gone.npz")), "--data", str(data_dir))
    assert missing.returncode == 1 and "gone.metrics.json: no such file" in missing.stderr
    usage = _command()
    assert usage.returncode == 2 and "--data" in usage.stderr


def test_the_web_app_never_imports_the_figures_or_matplotlib(tmp_path: Path) -> None:
    # The Docker image has no matplotlib: building the app must not reach for it.
    code = (
        "import sys; from app import create_app;"
        f" create_app({{'FEEDBACK_DB': {str(tmp_path / 'feedback.sqlite')!r}}});"
        " print(sorted(m for m in sys.modules if m == 'model.figures' or m.split('.')[0] == 'matplotlib'))"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
