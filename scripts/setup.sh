#!/usr/bin/env bash
# Shared set-up for ./start and ./test: a virtual environment with ivrflow installed from the
# lock file. Safe to run again; it only installs what changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "ivrflow needs Python 3.11 or newer ($PYTHON is $("$PYTHON" --version 2>&1))." >&2
  exit 1
fi

bash scripts/system.sh

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi

# ivrflow and every plugin in plugins/*/ (each its own distribution), editable
plugins=()
for project in plugins/*/pyproject.toml; do
  [ -f "$project" ] && plugins+=(-e "$(dirname "$project")")
done
stamp=.venv/.ivrflow-installed
want="$(cat pyproject.toml requirements.lock plugins/*/pyproject.toml 2>/dev/null \
  | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check \
    -c requirements.lock -e '.[dev]' "${plugins[@]}"
  echo "$want" > "$stamp"
fi
