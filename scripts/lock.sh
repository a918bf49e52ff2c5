#!/usr/bin/env bash
# Compile the lock files from pyproject.toml, where the dependencies are declared:
#   requirements.txt        the web app (what the Docker image installs)
#   requirements-train.txt  the app's packages plus the trainer's figures (matplotlib)
#   requirements-dev.txt    all of that plus the test suite, the linter and coverage
# Every package is pinned with its hashes. The dev lock is resolved first and the other two are
# held to its versions, so the three never disagree.
#   bash scripts/lock.sh             keep the pinned versions where pyproject.toml still allows them
#   bash scripts/lock.sh --upgrade   move every package to its newest allowed release
# Then run the suite (bash scripts/test.sh) in a fresh venv before committing the new locks.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v uv >/dev/null || { echo "scripts/lock.sh needs uv: python -m pip install uv" >&2; exit 1; }

compile() {  # compile OUTPUT [uv pip compile options...]
  local out=$1
  shift
  uv pip compile --quiet pyproject.toml --python-version 3.11 --generate-hashes \
    --custom-compile-command "bash scripts/lock.sh" -o "$out" "$@"
}
compile requirements-dev.txt --extra dev "$@"
compile requirements-train.txt --extra train -c requirements-dev.txt
compile requirements.txt -c requirements-dev.txt
