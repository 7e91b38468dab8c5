#!/usr/bin/env bash
# Build the browser designer: designer/frontend (Vite + React + TypeScript) → designer/static,
# which is committed and shipped in the Python package (no Node at run time).
# Needs Node ≥ 20.19 and npm; installs exactly what package-lock.json says (npm ci).
set -euo pipefail
cd "$(dirname "$0")/../designer/frontend"
if ! command -v npm >/dev/null 2>&1; then
  echo "building the designer needs Node.js ≥ 20.19 and npm" >&2
  exit 1
fi
npm ci --no-audit --no-fund --loglevel=error
npm run --silent typecheck
npm run --silent build -- --logLevel warn
