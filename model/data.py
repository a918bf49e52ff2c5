"""Reading handwritten-digit data sets: MNIST's IDX files and Kaggle's "Digit Recognizer" CSVs.

Images come back as ``uint8`` arrays of shape (n, 28, 28), white ink on black (0-255), and
labels as ``int64`` arrays of shape (n,). ``to_columns`` turns images into the network's
input: columns of shape (784, n), values in [0, 1].

Any malformed input raises ``DataError`` naming the file, where in it (byte offset or row)
and what is wrong.

``python -m model.data download DIR`` fetches the four MNIST files (see ``model.download``).
"""

from __future__ import annotations

import argparse
import gzip
import io
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model import cli, download
from model.fileio import atomic_write
from model.shape import PIXELS, SIDE

_IDX_UBYTE = 0x08  # the IDX type code for unsigned bytes, the only one MNIST uses


class DataError(ValueError):
    """Malformed data: the message names the file, the place in it and the problem."""

    def __init__(self, path: str | Path, where: str | None, problem: str) -> None:
        self.path = Path(path)
        self.where = where
        self.problem = problem
        place = f" ({where})" if where else ""
        super().__init__(f"{path}{place}: {problem}")


@dataclass
class Dataset:
    """Images (n, 28, 28) uint8 and labels (n,) int64, or None for an unlabelled set."""

    images: np.ndarray
    labels: np.ndarray | None
    sources: list[Path]

    def __len__(self) -> int:
        return len(self.images)


# -- IDX --------------------------------------------------------------------------------------


def _read_bytes(path: Path) -> bytes:
    """The file's contents, gunzipped when it is a gzip stream (by its magic, not its name)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(path, None, "no such file") from None
    except IsADirectoryError:
        raise DataError(path, None, "is a directory, not a file") from None
    except OSError as e:
        raise DataError(path, None, f"cannot be read ({e.strerror or e})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except EOFError:
            raise DataError(path, None, "gzip stream is truncated") from None
        except (OSError, zlib.error) as e:
            raise DataError(path, None, f"gzip stream is corrupt ({e})") from None
    return raw


def read_idx(path: str | Path, expected_dims: int | None = None) -> np.ndarray:
    """Read an IDX file of unsigned bytes (``.gz`` or raw) into an array of its shape.

    Images (magic 0x00000803) give (n, rows, cols); labels (0x00000801) give (n,).
    Checks the magic number, the number of dimensions (when ``expected_dims`` is given) and
    that the data is exactly as long as the header says.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataError(path, "byte 0", f"file is {len(data)} bytes long, too short for an IDX header")
    zero, dtype, ndim = data[0] | data[1] << 8, data[2], data[3]
    if zero != 0 or dtype != _IDX_UBYTE or ndim == 0:
        raise DataError(
            path, "byte 0", f"bad magic number 0x{data[:4].hex()}: expected 0x000008NN, an IDX file of unsigned bytes"
        )
    if expected_dims is not None and ndim != expected_dims:
        raise DataError(path, "byte 3", f"has {ndim} dimensions, expected {expected_dims}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(path, f"byte {len(data)}", f"header is truncated: {ndim} dimensions need {header} bytes")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "longer than its header says"
        raise DataError(
            path,
            f"byte {header}",
            f"{problem}: header gives shape {shape}, {expected - header} data bytes, but {len(data) - header} follow",
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write a uint8 array as a raw IDX file (images (n, 28, 28) or labels (n,)), atomically."""
    array = np.asarray(array)
    if array.dtype != np.uint8 or array.ndim == 0:
        raise ValueError(f"IDX files here hold uint8 arrays, got {array.dtype} of shape {array.shape}")
    header = bytes([0, 0, _IDX_UBYTE, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    with atomic_write(path) as f:
        f.write(header + array.tobytes())


def read_idx_images(path: str | Path) -> np.ndarray:
    """IDX image file -> (n, 28, 28) uint8."""
    images = read_idx(path, expected_dims=3)
    if images.shape[1:] != (SIDE, SIDE):
        raise DataError(path, "byte 8", f"images are {images.shape[1]}x{images.shape[2]}, expected 28x28")
    return images


def read_idx_labels(path: str | Path) -> np.ndarray:
    """IDX label file -> (n,) int64 with values 0-9."""
    labels = read_idx(path, expected_dims=1)
    bad = np.flatnonzero(labels > 9)
    if bad.size:
        raise DataError(path, f"byte {8 + bad[0]}", f"label {labels[bad[0]]} of item {bad[0]} is not a digit 0-9")
    return labels.astype(np.int64)


def find_mnist_file(directory: str | Path, stem: str) -> Path:
    """``directory/stem`` or ``directory/stem.gz``, whichever exists."""
    directory = Path(directory)
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    raise DataError(directory / f"{stem}.gz", None, f"no such file (nor {stem} uncompressed)")


def load_mnist_split(directory: str | Path, split: str) -> Dataset:
    """The ``train`` (60,000) or ``t10k`` (10,000) half of the MNIST files in ``directory``."""
    image_path = find_mnist_file(directory, f"{split}-images-idx3-ubyte")
    label_path = find_mnist_file(directory, f"{split}-labels-idx1-ubyte")
    images = read_idx_images(image_path)
    labels = read_idx_labels(label_path)
    if len(images) != len(labels):
        raise DataError(
            label_path, "byte 4", f"has {len(labels)} labels but {image_path.name} has {len(images)} images"
        )
    return Dataset(images, labels, [image_path, label_path])


# -- Kaggle CSV -------------------------------------------------------------------------------


def read_kaggle_csv(path: str | Path) -> Dataset:
    """Read Kaggle's ``train.csv`` (``label,pixel0..pixel783``) or ``test.csv``
    (``pixel0..pixel783``); which one is told by the header. Labels are None for test.csv.
    """
    path = Path(path)
    data = _read_bytes(path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(path, f"byte {e.start}", "is not UTF-8 text") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise DataError(path, "row 1", "is empty: expected a header row")
    header = [h.strip() for h in lines[0].split(",")]
    pixel_names = [f"pixel{i}" for i in range(PIXELS)]
    if header == ["label", *pixel_names]:
        labelled = True
    elif header == pixel_names:
        labelled = False
    else:
        raise DataError(
            path,
            "row 1",
            f"unexpected header ({len(header)} columns starting {','.join(header[:3])}): expected "
            "'label,pixel0,...,pixel783' (train.csv) or 'pixel0,...,pixel783' (test.csv)",
        )
    body = [line for line in lines[1:] if line.strip()]
    if not body:
        raise DataError(path, "row 2", "has a header but no data rows")
    ncols = len(header)
    try:
        table = np.loadtxt(io.StringIO("\n".join(body)), delimiter=",", dtype=np.int64, ndmin=2)
        if table.shape[1] != ncols:
            raise ValueError
    except ValueError:
        _diagnose_csv(path, lines, ncols)
        raise DataError(path, None, "could not be parsed as integers") from None
    rows = [i + 2 for i, line in enumerate(lines[1:]) if line.strip()]
    pixels = table[:, 1:] if labelled else table
    _check_range(path, pixels, rows, 0, 255, "pixel", first_col=1 if labelled else 0, header=header)
    labels = None
    if labelled:
        _check_range(path, table[:, :1], rows, 0, 9, "label", first_col=0, header=header)
        labels = table[:, 0].copy()
    images = pixels.astype(np.uint8).reshape(-1, SIDE, SIDE)
    return Dataset(images, labels, [path])


def write_kaggle_csv(path: str | Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Write (n, 28, 28) uint8 images and their labels as a Kaggle ``train.csv``, atomically."""
    table = np.column_stack([np.asarray(labels, dtype=np.int64), images.reshape(len(images), -1)])
    with atomic_write(path, "w") as f:
        f.write(",".join(["label", *(f"pixel{i}" for i in range(PIXELS))]) + "\n")
        np.savetxt(f, table, fmt="%d", delimiter=",")


def _diagnose_csv(path: Path, lines: list[str], ncols: int) -> None:
    """Find the first bad row and cell and raise a DataError for it (the slow, exact path)."""
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split(",")
        if len(cells) != ncols:
            raise DataError(path, f"row {number}", f"has {len(cells)} columns, expected {ncols}")
        for col, cell in enumerate(cells, start=1):
            try:
                int(cell)
            except ValueError:
                raise DataError(
                    path, f"row {number}, column {col}", f"{cell.strip()[:20]!r} is not an integer"
                ) from None


def _check_range(
    path: Path,
    table: np.ndarray,
    rows: list[int],
    low: int,
    high: int,
    what: str,
    first_col: int,
    header: list[str],
) -> None:
    bad = np.argwhere((table < low) | (table > high))
    if bad.size:
        r, c = bad[0]
        col = first_col + c
        raise DataError(
            path,
            f"row {rows[r]}, column {col + 1} ({header[col]})",
            f"{what} value {table[r, c]} is outside {low}-{high}",
        )


# -- shaping and splitting --------------------------------------------------------------------


def load(path: str | Path) -> tuple[Dataset, Dataset | None]:
    """Training data and, for MNIST, the test set: ``path`` is an MNIST directory (train and
    t10k files) or a Kaggle ``train.csv`` (no test set: Kaggle's test.csv has no labels)."""
    path = Path(path)
    if path.is_dir():
        train = load_mnist_split(path, "train")
        has_test = any((path / f"t10k-images-idx3-ubyte{ext}").is_file() for ext in ("", ".gz"))
        return train, (load_mnist_split(path, "t10k") if has_test else None)
    train = read_kaggle_csv(path)
    if train.labels is None:
        raise DataError(path, "row 1", "has no label column: this is a test.csv, training needs train.csv")
    return train, None


def to_columns(images: np.ndarray, dtype: str = "float32") -> np.ndarray:
    """(n, 28, 28) uint8 images -> (784, n) columns with values in [0, 1]."""
    n = len(images)
    return (images.reshape(n, -1).T / np.float32(255)).astype(dtype)


def split(n: int, validation: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random split of ``range(n)`` into (training indices, validation indices)."""
    if not 0 <= validation < n:
        raise ValueError(f"validation size must be between 0 and {n - 1}, got {validation}")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[validation:]), np.sort(order[:validation])


def main(argv: list[str] | None = None) -> int:
    """``python -m model.data download DIR [--mirror URL ...]``."""
    parser = argparse.ArgumentParser(prog="python -m model.data", description=cli.description(__doc__))
    commands = parser.add_subparsers(dest="command", required=True)
    download.add_arguments(commands.add_parser("download", help="fetch the four MNIST files into DIR"))
    args = parser.parse_args(argv)
    return download.run(args)


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
