"""Tests for the ``python -m model.predict IMAGE... [--weights PATH]`` command line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model import predict
from model.data import load_mnist_split
from model.network import Network
from tests.support.canvas import render_like_canvas

ROOT = Path(__file__).resolve().parent.parent
LINE = re.compile(r"^(?P<path>.+): (?P<digit>\d) \((?P<percent>\d{1,3}\.\d)%\)$")


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    """A small untrained network: the CLI's mechanics do not need good answers."""
    path = tmp_path / "tiny.npz"
    Network([784, 10], cost="cross-entropy", seed=1).save(path)
    return path


@pytest.fixture
def digit_png(tmp_path: Path) -> Path:
    """A digit-like drawing as a canvas sends it (no MNIST needed)."""
    image = np.zeros((28, 28), dtype=np.uint8)
    image[4:24, 13:16] = 255
    path = tmp_path / "one.png"
    path.write_bytes(render_like_canvas(image, np.random.default_rng(0)))
    return path


@pytest.mark.mnist
def test_reads_rendered_mnist_digits(mnist_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not predict.DEFAULT_WEIGHTS.is_file():
        pytest.skip(f"{predict.DEFAULT_WEIGHTS} has not been trained yet")
    test = load_mnist_split(mnist_dir, "t10k")
    rng = np.random.default_rng(7)
    paths, labels = [], []
    for k in range(4):
        path = tmp_path / f"digit{k}.png"
        path.write_bytes(render_like_canvas(test.images[k], rng, transparent=k % 2 == 1))
        paths.append(str(path))
        labels.append(int(test.labels[k]))
    assert predict.main(paths) == 0  # default weights: model/digits.npz
    out, err = capsys.readouterr()
    assert err == ""
    lines = [LINE.match(line) for line in out.splitlines()]
    assert all(lines), out
    assert [m["path"] for m in lines] == paths
    assert [int(m["digit"]) for m in lines] == labels
    assert all(0 < float(m["percent"]) <= 100 for m in lines)


def test_a_bad_file_is_reported_and_the_rest_still_read(
    tmp_path: Path, weights: Path, digit_png: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not an image\n")
    missing = tmp_path / "missing.png"
    status = predict.main([str(text), str(digit_png), str(missing), "--weights", str(weights)])
    out, err = capsys.readouterr()
    assert status == 1
    assert LINE.match(out.strip()) and out.startswith(f"{digit_png}: ")
    assert len(out.splitlines()) == 1
    errors = err.splitlines()
    assert len(errors) == 2
    assert errors[0].startswith(f"{text}: error: not an image")
    assert errors[1].startswith(f"{missing}: error: cannot read the file")


def test_a_blank_image_is_an_error(tmp_path: Path, weights: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blank = tmp_path / "blank.png"
    blank.write_bytes(render_like_canvas(np.zeros((28, 28)), np.random.default_rng(0)))
    assert predict.main([str(blank), "--weights", str(weights)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip() == f"{blank}: error: no digit found: the image is blank (a single flat colour)"


def test_all_good_files_exit_0(weights: Path, digit_png: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert predict.main([str(digit_png), str(digit_png), "--weights", str(weights)]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 2 and all(LINE.match(line) for line in out.splitlines())
    assert err == ""


@pytest.mark.parametrize("content", [None, b"PK\x03\x04 not really a zip", b""], ids=["missing", "corrupt", "empty"])
def test_bad_weights_file(
    tmp_path: Path, digit_png: Path, content: bytes | None, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "weights.npz"
    if content is not None:
        path.write_bytes(content)
    assert predict.main([str(digit_png), "--weights", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1
    assert str(path) in err


@pytest.mark.parametrize("argv", [[], ["--weights"], ["x.png", "--bogus"]])
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert predict.main(argv) == 2
    assert "usage:" in capsys.readouterr().err


def test_default_weights_are_beside_the_module_not_the_working_directory() -> None:
    beside = Path(predict.__file__).resolve().parent / "digits.npz"
    assert beside == predict.DEFAULT_WEIGHTS
    assert predict.DEFAULT_WEIGHTS.is_absolute()


def test_runs_as_a_module_from_another_directory(tmp_path: Path, weights: Path, digit_png: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "model.predict", digit_png.name, "not-there.png", "--weights", str(weights)],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert LINE.match(result.stdout.strip()), result.stdout
    assert result.stderr.startswith("not-there.png: error: ")
