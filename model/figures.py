"""Report figures drawn with matplotlib (Agg, no display): training curves, a confusion matrix, a grid of mistakes.

matplotlib is a training dependency (``digits[train]``) that the Docker image and the web app
never have: only the trainer and this module's command import this module. Each figure is one
PNG written through ``atomic_write``, so a half-written figure never replaces a good one, and
the same input gives the same bytes (no software or date stamp in the file).

Redraw a model's committed figures from what its training saved::

    python -m model.figures model/digits.npz --data ../shared/data/mnist
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from collections.abc import Iterator, Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import matplotlib.style
import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import ListedColormap, Normalize, PowerNorm
from matplotlib.figure import Figure
from matplotlib.offsetbox import AnnotationBbox, HPacker, TextArea
from matplotlib.ticker import MaxNLocator, StrMethodFormatter
from numpy.typing import ArrayLike

from model import cli, data
from model.fileio import atomic_write
from model.metrics import confusion_matrix
from model.network import Network
from model.shape import PIXELS, SIDE

__all__ = ["confusion_matrix_figure", "main", "mistakes_grid", "network_title", "redraw", "training_curves"]

_DPI = 100  # figure sizes are given in pixels: inches = pixels / _DPI
_TEXT, _MUTED, _FAINT, _FRAME = "#282828", "#6e6e6e", "#b9b9b9", "#aaaaaa"
_TRAIN, _VALID, _ERROR = "#1f77b4", "#e66101", "#c81e1e"
# Frame and ticks in greys, so the data stands out.
_STYLE = {"font.size": 11, "axes.titlesize": 13, "figure.titlesize": 15, "grid.color": "#e8e8e8"}
_STYLE.update({"axes.edgecolor": _FRAME, "xtick.color": _FRAME, "ytick.color": _FRAME})
_STYLE.update({"xtick.labelcolor": _MUTED, "ytick.labelcolor": _MUTED, "legend.edgecolor": _FRAME})


@contextlib.contextmanager
def _drawing(path: str | PathLike[str], width: int, height: int, layout: str = "constrained") -> Iterator[Figure]:
    """A white ``width`` x ``height`` pixel figure, written to ``path`` as a PNG when the block ends."""
    # "default" first, so a matplotlibrc on the machine cannot change the figures.
    with matplotlib.style.context(["default", _STYLE]):
        fig = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI, layout=layout)
        yield fig
        with atomic_write(path) as f:
            fig.savefig(f, format="png", dpi=_DPI, metadata={"Software": None})


def _rich_text(fig: Figure, x: float, y: float, parts: Sequence[tuple[str, str]], size: float) -> None:
    """(text, colour) runs side by side, centred on figure pixel (x, y) counted from the top left."""
    runs = [TextArea(text, textprops={"color": colour, "fontsize": size}) for text, colour in parts]
    row = HPacker(children=runs, align="baseline", pad=0, sep=size / 4)
    fig.add_artist(AnnotationBbox(row, (x, fig.bbox.height - y), xycoords="figure pixels", frameon=False, pad=0))


def network_title(net: Network) -> str:
    """The figures' title for a network, e.g. ``784-800-800-10 relu, cross-entropy``."""
    return f"{'-'.join(map(str, net.sizes))} {net.activation}, {net.cost}"


def _per_epoch(history: Sequence[Mapping[str, Any]], value: Any, scale: float = 1.0) -> tuple[list[int], list[float]]:
    """(epochs, values) of the records where ``value(record)`` was measured and is finite."""
    pairs = [(int(r["epoch"]), scale * float(v)) for r in history if (v := value(r)) is not None]
    pairs = [(e, v) for e, v in pairs if math.isfinite(v)]
    return [e for e, _ in pairs], [v for _, v in pairs]


def _epoch_ticks(first: int, last: int) -> list[int]:
    """Round epochs between ``first`` and ``last``, and ``first`` itself unless it would crowd the next."""
    ticks = MaxNLocator(integer=True, steps=[1, 2, 5, 10], min_n_ticks=1).tick_values(first, last)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1
    return [first, *(int(t) for t in ticks if first + step / 2 <= t <= last)]


def training_curves(history: Sequence[Mapping[str, Any]], path: str | PathLike[str], title: str = "") -> None:
    """Plot cost and accuracy per epoch side by side; write a 1000x460 PNG to ``path``.

    ``history`` holds one mapping per epoch (``EpochRecord.as_dict()``) with ``epoch``
    (1-based), ``cost``, ``train_accuracy`` and ``validation_accuracy`` (or, in older files,
    ``test_accuracy``; 0-1, or None when not measured). The accuracy axis zooms in on the data,
    up to 100%, and the epoch with the best validation accuracy is marked. Raises ValueError on
    an empty history.
    """
    if not history:
        raise ValueError("history is empty: nothing to plot")
    cost = _per_epoch(history, lambda r: r.get("cost"))
    train = _per_epoch(history, lambda r: r.get("train_accuracy"), 100)
    # Older metrics files call the validation accuracy "test_accuracy".
    valid = _per_epoch(history, lambda r: r.get("validation_accuracy", r.get("test_accuracy")), 100)
    epochs = [int(r["epoch"]) for r in history]
    markers = {"marker": "o", "markersize": 3.5} if len(epochs) <= 40 else {}

    with _drawing(path, 1000, 460) as fig:
        fig.get_layout_engine().set(h_pad=0.08, wspace=0.08)
        if title:
            fig.suptitle(title)
        cost_ax, acc_ax = fig.subplots(1, 2)
        first, last = min(epochs), max(epochs)
        pad = max(0.5, 0.03 * (last - first))  # keeps the curves off the frame and the legend's corners
        for ax in (cost_ax, acc_ax):
            ax.grid(True)
            ax.set_xlim(first - pad, last + pad)
            ax.set_xticks(_epoch_ticks(first, last))
            ax.set_xlabel("epoch")

        cost_ax.plot(*cost, color=_TRAIN, linewidth=2, **markers)
        cost_ax.set_ylim(bottom=min([0.0, *cost[1]]))  # from 0, so the fall is seen to scale
        cost_ax.set(title="cost per epoch", ylabel="cost")

        low = min(train[1] + valid[1], default=0.0)
        high = max(train[1] + valid[1], default=100.0)
        bottom = max(0.0, low - max(0.5, 0.08 * (100 - low)))  # zoomed in, so that 98% and 99% are far apart
        acc_ax.set_ylim(bottom, max(100.0, high))
        acc_ax.yaxis.set_major_locator(MaxNLocator(steps=[1, 2, 5, 10]))
        acc_ax.yaxis.set_major_formatter(StrMethodFormatter("{x:g}%"))
        acc_ax.set(title="accuracy per epoch", ylabel="accuracy")
        acc_ax.plot(*train, color=_TRAIN, linewidth=2, label="training", **markers)
        if valid[0]:
            acc_ax.plot(*valid, color=_VALID, linewidth=2, label="validation", **markers)
            best = int(np.argmax(valid[1]))  # the earliest of equals
            epoch, accuracy = valid[0][best], valid[1][best]
            # vlines, not axvline: the legend's "best" place may then cover the dashed line, never a curve.
            acc_ax.vlines(epoch, bottom, accuracy, color=_VALID, linestyle="--", linewidth=1)
            # One point drawn with a dashed style: the legend shows the dot and the dashed line.
            acc_ax.plot(
                [epoch], [accuracy], "o--", color=_VALID, markersize=9, markeredgecolor="white", markeredgewidth=1.5,
                linewidth=1, label=f"best {accuracy:.2f}% (epoch {epoch})",
            )  # fmt: skip
        else:
            acc_ax.plot([], [], " ", label="no validation data")
        acc_ax.legend(loc="best", framealpha=1)


def confusion_matrix_figure(matrix: ArrayLike, path: str | PathLike[str], title: str = "") -> None:
    """Draw a (k, k) confusion matrix (rows = true label, columns = predicted) as a ~720x780 PNG.

    Each cell shows its count. The diagonal (correct) is blue by count; errors are red on their
    own square-root scale, so a single mistake still shows against ~1000 correct answers. Each
    row ends with its accuracy (recall) in percent. Raises ValueError unless the matrix is a
    non-empty square of non-negative counts.
    """
    counts = np.asarray(matrix)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] == 0:
        raise ValueError(f"matrix must be square (k, k), got shape {counts.shape}")
    if np.any(counts < 0):
        raise ValueError("matrix counts must not be negative")
    counts = counts.astype(np.int64)
    k, total = len(counts), int(counts.sum())
    diagonal = np.eye(k, dtype=bool)
    correct_norm = Normalize(0, max(1, int(counts[diagonal].max())))
    max_error = int(counts[~diagonal].max(initial=0))
    error_norm = PowerNorm(0.5, 0, max(2, max_error))  # 2: a lone 1 is not the top of a one-value scale
    # The upper parts of two colour maps, so that the lowest count is clearly tinted.
    blues, reds = (ListedColormap(colormaps[n](np.linspace(lo, 1, 256))) for n, lo in [("Blues", 0.25), ("Reds", 0.12)])
    colours = np.where(diagonal[..., None], blues(correct_norm(counts)), reds(error_norm(counts)))
    colours[counts == 0] = 1.0  # white: nothing to see

    with _drawing(path, 720, 780, layout="compressed") as fig:  # "compressed": made for fixed-aspect axes
        if title:
            fig.suptitle(title)
        grid = fig.add_gridspec(2, 2, height_ratios=[1, 0.035])
        ax = fig.add_subplot(grid[0, :])
        ax.imshow(colours, interpolation="nearest")
        size = min(11.0, 110.0 / k)
        for (i, j), n in np.ndenumerate(counts):
            luminance = colours[i, j, :3] @ [0.299, 0.587, 0.114]
            ink = _FAINT if n == 0 else _TEXT if luminance > 0.6 else "white"
            ax.text(j, i, str(n), ha="center", va="center", color=ink, fontsize=size)
        ax.set(xticks=range(k), yticks=range(k), xlabel="predicted label", ylabel="true label")
        ax.set_xticks(np.arange(k + 1) - 0.5, minor=True)  # hairlines between cells, so zeros read as a grid
        ax.set_yticks(np.arange(k + 1) - 0.5, minor=True)
        ax.grid(which="minor", linewidth=1)
        ax.tick_params(which="both", length=0, labelcolor=_TEXT)
        overall = f"overall accuracy {100 * np.trace(counts) / total:.2f}% of {total:,}" if total else "no examples"
        ax.set_title(overall, fontsize=11, color=_MUTED)

        rows = counts.sum(axis=1)
        recall = [f"{100 * counts[t, t] / rows[t]:.1f}%" if rows[t] else "n/a" for t in range(k)]
        right = ax.secondary_yaxis("right")
        right.set_yticks(range(k), labels=recall)
        right.tick_params(length=0, labelcolor=_TEXT)
        right.set_ylabel("per-class accuracy", color=_MUTED)

        bars = [(grid[1, 0], blues, correct_norm, "correct", 0)]
        if max_error:  # zero errors are white, not the lightest red: that bar starts at 1
            bars.append((grid[1, 1], reds, error_norm, "errors (square-root scale)", 1))
        else:
            blank = fig.add_subplot(grid[1, 1], frame_on=False, xticks=[], yticks=[])
            blank.text(0.5, 0.5, "no errors", ha="center", va="center", color=_MUTED, transform=blank.transAxes)
        for cell, cmap, norm, label, low in bars:
            bar = fig.colorbar(ScalarMappable(norm, cmap), fig.add_subplot(cell), orientation="horizontal", label=label)
            bar.outline.set_edgecolor(_FRAME)
            bar.ax.set_xlim(low, norm.vmax)
            bar.ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
        if max_error:  # 1, the top, and halfway along the square-root scale
            bar.set_ticks(sorted({1, round(((1 + math.sqrt(max_error)) / 2) ** 2), error_norm.vmax}))


def mistakes_grid(
    images: ArrayLike,
    true_labels: ArrayLike,
    predicted_labels: ArrayLike,
    path: str | PathLike[str],
    columns: int = 10,
    limit: int = 100,
) -> None:
    """Draw up to ``limit`` misread digits, enlarged 3x, in a grid captioned ``true → predicted``.

    ``images`` has shape (n, 28, 28), uint8, white ink on black ((n, 784) rows and floats in
    [0, 1] are accepted too); the label arrays have n entries. With n = 0 the PNG just says
    "no mistakes". The grid has ``min(columns, n)`` columns, so it grows with n up to ``limit``.
    """
    imgs = np.asarray(images)
    imgs = imgs.reshape(len(imgs), SIDE, SIDE) if imgs.ndim == 2 and imgs.shape[1] == PIXELS else imgs  # rows
    if imgs.ndim != 3:
        raise ValueError(f"images must have shape (n, height, width), got {imgs.shape}")
    if imgs.dtype != np.uint8:  # floats, on the network's [0, 1] scale or 0-255
        imgs = np.clip(np.rint(imgs * (255.0 if imgs.max(initial=0) <= 1 else 1.0)), 0, 255).astype(np.uint8)
    true = np.asarray(true_labels).reshape(-1)
    pred = np.asarray(predicted_labels).reshape(-1)
    if not len(imgs) == len(true) == len(pred):
        raise ValueError(f"{len(imgs)} images but {len(true)} true and {len(pred)} predicted labels")
    if columns < 1 or limit < 0:
        raise ValueError("columns must be at least 1 and limit at least 0")
    shown = min(len(imgs), limit)
    if shown == 0:
        with _drawing(path, 280, 76, layout="none") as fig:
            fig.text(0.5, 0.5, "no mistakes", ha="center", va="center", fontsize=15, color=_MUTED)
        return

    # 3x, not more: ten columns then stay 950 pixels wide, so a README hardly shrinks the captions.
    zoom, gap, caption, header = 3, 10, 28, 46
    tile_h, tile_w = imgs.shape[1] * zoom, imgs.shape[2] * zoom
    cols = min(columns, shown)
    rows = math.ceil(shown / cols)
    grid_w = cols * (tile_w + gap) - gap
    width, height = max(grid_w + 2 * gap, 420), header + rows * (tile_h + caption + gap)
    left = (width - grid_w) // 2
    # The digits are laid out pixel for pixel and drawn unresampled (figimage), so they stay sharp.
    canvas = np.full((height, width), 255, np.uint8)
    with _drawing(path, width, height, layout="none") as fig:
        for i in range(shown):
            r, c = divmod(i, cols)
            x, y = left + c * (tile_w + gap), header + r * (tile_h + caption + gap)
            canvas[y : y + tile_h, x : x + tile_w] = imgs[i].repeat(zoom, axis=0).repeat(zoom, axis=1)
            parts = [(str(true[i]), _TEXT), ("→", _MUTED), (str(pred[i]), _ERROR)]
            _rich_text(fig, x + tile_w / 2, y + tile_h + caption / 2, parts, 11)
        fig.figimage(canvas, cmap="gray", vmin=0, vmax=255, origin="upper", resize=False)
        what = f"{len(imgs):,} mistake{'s' * (len(imgs) != 1)}"
        if shown < len(imgs):
            what = f"first {shown} of {what}"
        heading = [(f"{what}, captioned true", _TEXT), ("→", _MUTED), ("predicted", _ERROR)]
        _rich_text(fig, width / 2, header / 2, heading, 13)


def _read_metrics(path: Path) -> dict[str, Any]:
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file (the trainer writes it beside the weights)") from None
    except OSError as e:
        raise ValueError(f"{path}: cannot be read ({e.strerror or e})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: is not valid JSON ({e})") from None
    history = metrics.get("history") if isinstance(metrics, dict) else None
    if not (isinstance(history, list) and history and all(isinstance(r, dict) and "epoch" in r for r in history)):
        raise ValueError(f"{path}: has no per-epoch 'history' records to plot")
    return metrics


def _misread(net: Network, data_dir: Path, saved_matrix: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The MNIST test images (m, 28, 28) the network misreads, their labels and its answers (m,).

    Its answers must reproduce ``saved_matrix``: other data or weights would draw other mistakes.
    """
    k = net.sizes[-1]
    saved = np.asarray(saved_matrix)
    if saved.shape != (k, k):
        raise ValueError(f"the saved confusion matrix has shape {saved.shape}, the network {k} outputs")
    test = data.load_mnist_split(data_dir, "t10k")
    predicted = net.predict(data.to_columns(test.images, net.dtype.name))
    if not np.array_equal(confusion_matrix(test.labels, predicted, k), saved):
        raise ValueError(f"{data_dir}: the network's answers on this test set do not match the saved confusion matrix")
    wrong = np.flatnonzero(predicted != test.labels)
    return test.images[wrong], test.labels[wrong], predicted[wrong]


def redraw(weights: str | PathLike[str], data_dir: str | PathLike[str]) -> list[Path]:
    """Redraw ``<stem>.{curves,confusion,mistakes}.png`` beside ``weights``; return the paths written.

    Reads ``<stem>.metrics.json`` (history, confusion matrix), the weights and the MNIST test set
    in ``data_dir``, all before the first write. Raises ValueError or OSError naming the file.
    """
    stem = Path(weights).with_suffix("")
    metrics = _read_metrics(Path(f"{stem}.metrics.json"))
    net = Network.load(weights)
    title = network_title(net)
    paths = {kind: Path(f"{stem}.{kind}.png") for kind in ("curves", "confusion", "mistakes")}
    matrix = metrics.get("confusion_matrix")
    mistakes = None if matrix is None else _misread(net, Path(data_dir), matrix)
    training_curves(metrics["history"], paths["curves"], title=title)
    if mistakes is None:  # trained without a test set: there is nothing else to draw
        return [paths["curves"]]
    confusion_matrix_figure(matrix, paths["confusion"], title=title)
    mistakes_grid(*mistakes, paths["mistakes"])
    return list(paths.values())


def main(argv: list[str] | None = None) -> int:
    """Run the redraw command; return the exit status (1, with a message, for a missing or bad file)."""
    parser = argparse.ArgumentParser(
        prog="python -m model.figures",
        description="Redraw a model's figures from its metrics, weights and the MNIST test set.",
    )
    parser.add_argument("weights", type=Path, help="the model's weights, e.g. model/digits.npz")
    parser.add_argument("--data", type=Path, required=True, metavar="DIR", help="folder with the MNIST t10k files")
    args = parser.parse_args(argv)
    try:
        written = redraw(args.weights, args.data)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print("wrote " + ", ".join(map(str, written)))
    return 0


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
