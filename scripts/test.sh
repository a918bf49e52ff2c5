#!/usr/bin/env bash
# Install everything the tests need, then run them: the README's test command, and what CI runs.
#   bash scripts/test.sh [PYTEST ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."

# The browser tests drive Debian's chromium; Playwright never downloads a browser here.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
  else
    echo "note: /usr/bin/chromium is missing (apt-get install chromium): the browser tests will be skipped" >&2
  fi
fi
# The locked versions (requirements-dev.txt, compiled by scripts/lock.sh), hashes checked.
python -m pip install -q --require-hashes -r requirements-dev.txt
python -m ruff check .
python -m ruff format --check .
python -m pytest "$@"
