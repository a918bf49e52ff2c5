#!/usr/bin/env bash
# Install everything the tests need, then run them: the README's test command, and what CI runs.
#   bash scripts/test.sh [PYTEST ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."

# The browser tests drive Debian's chromium (Playwright never downloads a browser here); the feedback
# store's tests run a PostgreSQL server from Debian's package in a temporary folder; the deployment's
# tests run Debian's nginx with its template, and check compose.yaml with Debian's docker-compose.
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium fonts-dejavu-core)
compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null || missing+=(postgresql)
[ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v docker-compose >/dev/null || missing+=(docker-compose)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "note: ${missing[*]} missing (apt-get install ${missing[*]}): the tests that need them will be skipped" >&2
  fi
fi
# The locked versions (requirements-dev.txt, compiled by scripts/lock.sh), hashes checked.
python -m pip install -q --require-hashes -r requirements-dev.txt
python -m ruff check .
python -m ruff format --check .
python -m pytest "$@"
