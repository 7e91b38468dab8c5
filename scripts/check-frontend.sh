#!/usr/bin/env bash
# CI check: the committed designer/static is what designer/frontend builds to. Rebuilds it,
# then fails if anything differs (changed, deleted or new files).
# Without npm it says so and exits 0, unless IVRFLOW_REQUIRE_FRONTEND_CHECK=1.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null 2>&1; then
  echo "frontend check skipped: npm is not installed (Node.js ≥ 20.19 builds the designer)" >&2
  [ "${IVRFLOW_REQUIRE_FRONTEND_CHECK:-0}" = 1 ] && exit 1
  exit 0
fi
bash scripts/build-frontend.sh
untracked="$(git ls-files --others --exclude-standard -- designer/static)"
if ! git diff --exit-code --stat -- designer/static || [ -n "$untracked" ]; then
  [ -n "$untracked" ] && printf 'not committed:\n%s\n' "$untracked" >&2
  echo "designer/static is not a fresh build of designer/frontend:" \
    "run scripts/build-frontend.sh and commit designer/static" >&2
  exit 1
fi
echo "designer/static matches a fresh build of designer/frontend"
