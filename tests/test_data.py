"""Reading MNIST IDX files and Kaggle CSVs: the real files, and every kind of malformed one."""

from __future__ import annotations

import gzip
import hashlib
import struct

import numpy as np
import pytest

from model import data
from model.data import DataError
from model.mnist import MNIST_FILES
from tests.support.datasets import idx_bytes, kaggle_text


def sample_images(n: int = 5, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28), dtype=np.uint8)


# -- the real MNIST files ----------------------------------------------------------------------------


@pytest.mark.mnist
def test_real_mnist_matches_published_counts_and_md5(mnist_dir):
    train, test = data.load(mnist_dir)
    assert train.images.shape == (60_000, 28, 28) and train.images.dtype == np.uint8
    assert test.images.shape == (10_000, 28, 28)
    assert np.bincount(train.labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(test.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    raw = gzip.decompress((mnist_dir / "t10k-labels-idx1-ubyte.gz").read_bytes())
    assert hashlib.md5(raw).hexdigest() == MNIST_FILES["t10k-labels-idx1-ubyte"]


@pytest.mark.mnist
def test_raw_and_gzipped_idx_read_the_same(mnist_dir, tmp_path):
    raw = gzip.decompress((mnist_dir / "t10k-labels-idx1-ubyte.gz").read_bytes())
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(raw)
    np.testing.assert_array_equal(
        data.read_idx_labels(tmp_path / "t10k-labels-idx1-ubyte"),
        data.read_idx_labels(mnist_dir / "t10k-labels-idx1-ubyte.gz"),
    )


# -- IDX files made here -----------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, compress):
    images = sample_images()
    payload = idx_bytes(images)
    path = tmp_path / ("x.gz" if compress else "x")
    path.write_bytes(gzip.compress(payload) if compress else payload)
    np.testing.assert_array_equal(data.read_idx_images(path), images)


def test_mnist_folder_with_raw_files_and_no_test_set(tmp_path):
    images, labels = sample_images(4), np.array([1, 2, 3, 4], np.uint8)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(images))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    train, test = data.load(tmp_path)
    assert test is None
    assert train.labels.tolist() == [1, 2, 3, 4] and train.labels.dtype == np.int64
    assert [p.name for p in train.sources] == ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"]


IDX_CASES = [
    ("bad magic", lambda: b"\x00\x00\x0d\x03" + idx_bytes(sample_images())[4:], "byte 0", "bad magic number"),
    ("text file", lambda: b"hello world, not idx", "byte 0", "bad magic number"),
    ("too short", lambda: b"\x00\x00", "byte 0", "too short for an IDX header"),
    ("label file as images", lambda: idx_bytes(np.arange(5)), "byte 3", "has 1 dimensions, expected 3"),
    ("truncated header", lambda: idx_bytes(sample_images())[:10], "byte 10", "header is truncated"),
    ("truncated data", lambda: idx_bytes(sample_images())[:-7], "byte 16", "truncated"),
    ("trailing bytes", lambda: idx_bytes(sample_images()) + b"xx", "byte 16", "longer than its header says"),
    ("wrong image size", lambda: idx_bytes(np.zeros((2, 20, 20))), "byte 8", "images are 20x20"),
    (
        "count mismatch in header",
        lambda: idx_bytes(sample_images(3))[:4] + struct.pack(">I", 4) + idx_bytes(sample_images(3))[8:],
        "byte 16",
        "truncated",
    ),
]


@pytest.mark.parametrize(("case", "make", "where", "message"), IDX_CASES, ids=[c[0] for c in IDX_CASES])
@pytest.mark.parametrize("compress", [False, True])
def test_malformed_idx_images(tmp_path, case, make, where, message, compress):
    path = tmp_path / "images.idx"
    payload = make()
    path.write_bytes(gzip.compress(payload) if compress else payload)
    with pytest.raises(DataError, match=message) as info:
        data.read_idx_images(path)
    assert info.value.where == where
    assert str(path) in str(info.value)


def test_label_outside_0_to_9(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(np.array([3, 1, 12, 4])))
    with pytest.raises(DataError, match=r"\(byte 10\): label 12 of item 2 is not a digit"):
        data.read_idx_labels(path)


def test_truncated_and_corrupt_gzip(tmp_path):
    good = gzip.compress(idx_bytes(sample_images()))
    truncated = tmp_path / "t.gz"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match="gzip stream is truncated"):
        data.read_idx_images(truncated)
    corrupt = tmp_path / "c.gz"
    corrupt.write_bytes(good[:20] + bytes(b ^ 0xFF for b in good[20:60]) + good[60:])
    with pytest.raises(DataError, match="gzip stream is corrupt"):
        data.read_idx_images(corrupt)


def test_image_and_label_counts_must_agree(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(sample_images(5)))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.arange(4)))
    with pytest.raises(DataError, match="has 4 labels but train-images-idx3-ubyte has 5 images"):
        data.load(tmp_path)


def test_missing_mnist_files(tmp_path):
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz: no such file"):
        data.load(tmp_path)


# -- Kaggle CSVs -------------------------------------------------------------------------------------


@pytest.mark.parametrize("labelled", [True, False])
def test_kaggle_csv_round_trip(tmp_path, labelled):
    images, labels = sample_images(3), np.array([7, 0, 9])
    path = tmp_path / "train.csv"
    path.write_text(kaggle_text(images, labels if labelled else None))
    dataset = data.read_kaggle_csv(path)
    np.testing.assert_array_equal(dataset.images, images)
    assert (dataset.labels.tolist() if labelled else dataset.labels) == ([7, 0, 9] if labelled else None)


def replace_cell(text: str, row: int, col: int, value: str) -> str:
    lines = text.split("\n")
    cells = lines[row - 1].split(",")
    cells[col - 1] = value
    lines[row - 1] = ",".join(cells)
    return "\n".join(lines)


def drop_cell(text: str, row: int) -> str:
    lines = text.split("\n")
    lines[row - 1] = lines[row - 1].rsplit(",", 1)[0]
    return "\n".join(lines)


CSV_CASES = [
    ("wrong header", lambda t: t.replace("label,", "digit,", 1), "row 1", "unexpected header"),
    ("empty file", lambda t: "", "row 1", "is empty"),
    ("header only", lambda t: t.split("\n")[0] + "\n", "row 2", "no data rows"),
    ("short row", lambda t: drop_cell(t, 3), "row 3", "has 784 columns, expected 785"),
    ("non-numeric cell", lambda t: replace_cell(t, 2, 100, "abc"), "row 2, column 100", "'abc' is not an integer"),
    ("pixel too large", lambda t: replace_cell(t, 4, 10, "256"), "row 4, column 10 (pixel8)", "outside 0-255"),
    ("negative pixel", lambda t: replace_cell(t, 2, 2, "-1"), "row 2, column 2 (pixel0)", "outside 0-255"),
    ("label not a digit", lambda t: replace_cell(t, 3, 1, "10"), "row 3, column 1 (label)", "outside 0-9"),
]


@pytest.mark.parametrize(("case", "change", "where", "message"), CSV_CASES, ids=[c[0] for c in CSV_CASES])
def test_malformed_kaggle_csv(tmp_path, case, change, where, message):
    path = tmp_path / "train.csv"
    path.write_text(change(kaggle_text(sample_images(3), np.array([1, 2, 3]))))
    with pytest.raises(DataError, match=message) as info:
        data.read_kaggle_csv(path)
    assert info.value.where == where
    assert str(path) in str(info.value)


def test_kaggle_test_csv_cannot_be_training_data(tmp_path):
    path = tmp_path / "test.csv"
    path.write_text(kaggle_text(sample_images(2), None))
    with pytest.raises(DataError, match="has no label column"):
        data.load(path)


def test_binary_file_as_csv(tmp_path):
    path = tmp_path / "train.csv"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataError, match="not UTF-8"):
        data.read_kaggle_csv(path)


# -- shaping and splitting ---------------------------------------------------------------------------


def test_to_columns():
    images = sample_images(4)
    X = data.to_columns(images)
    assert X.shape == (784, 4) and X.dtype == np.float32
    np.testing.assert_allclose(X[:, 2], images[2].reshape(-1) / 255)
    assert data.to_columns(images, "float64").dtype == np.float64


def test_split_is_seeded_disjoint_and_complete():
    train, val = data.split(100, 20, seed=5)
    assert len(val) == 20 and len(train) == 80
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(100))
    again = data.split(100, 20, seed=5)
    np.testing.assert_array_equal(val, again[1])
    assert not np.array_equal(val, data.split(100, 20, seed=6)[1])
    with pytest.raises(ValueError, match="validation size"):
        data.split(10, 10, seed=0)


def test_written_idx_and_csv_read_back(tmp_path):
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (9, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 9)
    data.write_idx(tmp_path / "images", images)
    data.write_idx(tmp_path / "labels", labels.astype(np.uint8))
    np.testing.assert_array_equal(data.read_idx_images(tmp_path / "images"), images)
    np.testing.assert_array_equal(data.read_idx_labels(tmp_path / "labels"), labels)
    data.write_kaggle_csv(tmp_path / "train.csv", images, labels)
    back = data.read_kaggle_csv(tmp_path / "train.csv")
    np.testing.assert_array_equal(back.images, images)
    np.testing.assert_array_equal(back.labels, labels)
    with pytest.raises(ValueError, match="uint8"):
        data.write_idx(tmp_path / "floats", images.astype(np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "labels", "train.csv"]
