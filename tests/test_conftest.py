"""The MNIST fixture's promise: under CI, missing data fails the tests instead of skipping them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.paths import ROOT


@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 error"), ("", "1 skipped")])
def test_missing_mnist_fails_under_ci_and_skips_elsewhere(tmp_path, ci, outcome):
    env = {**os.environ, "MNIST_DIR": str(tmp_path / "nowhere"), "CI": ci}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_data.py::test_real_mnist_matches_published_counts_and_md5",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert outcome in result.stdout
    assert "MNIST files not found" in result.stdout
    assert result.returncode == (1 if ci else 0)
