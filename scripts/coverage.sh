#!/usr/bin/env bash
# Line coverage of app/ and model/ over the whole suite, the gunicorn servers the tests start
# (and their forked workers) included: [tool.coverage] in pyproject.toml.
#   bash scripts/coverage.sh [PYTEST ARGS...]
# Run it in an environment where scripts/test.sh has installed the dev lock.
set -euo pipefail
cd "$(dirname "$0")/.."
data="$(mktemp -d)"
trap 'rm -rf "$data"' EXIT
export COVERAGE_FILE="$data/.coverage"
status=0
python -m coverage run -m pytest -q "$@" || status=$?
python -m coverage combine -q
python -m coverage report
exit "$status"
