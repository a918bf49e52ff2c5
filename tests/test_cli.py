"""Every command line stops quietly when its output pipe closes (model/cli.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from model import cli
from tests.support.datasets import tiny_mnist
from tests.support.paths import ROOT


def into_closed_pipe(args: list[str]) -> subprocess.CompletedProcess:
    """``python -m ARGS | head`` where ``head`` has gone before the first line arrives."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to the pipe now fails
    try:
        return subprocess.run(
            [sys.executable, "-m", *args], cwd=ROOT, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60
        )
    finally:
        os.close(write_end)


def test_the_exit_status_passes_through():
    assert cli.run(lambda: 3) == 3


@pytest.mark.parametrize(
    "module",
    ["model.evaluate", "model.predict", "model.train", "model.feedback", "model.figures", "model.data"],
)
def test_help_into_a_closed_pipe_is_quiet(module):
    result = into_closed_pipe([module, "--help"])
    assert result.stderr == ""
    assert result.returncode == 0  # argparse's --help ignores a failed write itself


def test_a_report_into_a_closed_pipe_ends_as_sigpipe_would(tmp_path):
    result = into_closed_pipe(["model.evaluate", "--data", str(tiny_mnist(tmp_path)), "--split", "train"])
    assert result.stderr == ""
    assert result.returncode == cli.BROKEN_PIPE_STATUS == 141
