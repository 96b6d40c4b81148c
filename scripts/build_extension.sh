#!/usr/bin/env bash
# Builds the VS Code extension into vscode-extension/lens.vsix (offline apart from the
# npm registry for `npm ci`). Quick when nothing changed: it skips `npm ci` while
# node_modules matches package-lock.json, and packaging while lens.vsix is newer
# than every file that goes into it.
#
#   bash scripts/build_extension.sh          # install, compile, package
#   LENS_FORCE_BUILD=1 bash scripts/build_extension.sh   # rebuild regardless
set -euo pipefail
cd "$(dirname "$0")/../vscode-extension"
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false

if ! command -v npm >/dev/null 2>&1; then
  echo "lens extension: npm not found; install Node.js 20 to build the VS Code extension" >&2
  exit 1
fi

# npm writes node_modules/.package-lock.json on every install; it is newer than
# package-lock.json exactly when the installed tree is up to date.
if [ -n "${LENS_FORCE_BUILD:-}" ] || [ ! -f node_modules/.package-lock.json ] \
   || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "lens extension: npm ci" >&2
  npm ci --no-fund --no-audit --loglevel=error
fi

inputs=(package.json package-lock.json tsconfig.json .vscodeignore README.md src media)
if [ -z "${LENS_FORCE_BUILD:-}" ] && [ -f lens.vsix ] \
   && [ -z "$(find "${inputs[@]}" -newer lens.vsix -print -quit)" ]; then
  echo "lens extension: lens.vsix is up to date" >&2
  exit 0
fi

echo "lens extension: compiling and packaging" >&2
# `vsce package` compiles first (the vscode:prepublish script).
npm run --silent package >/dev/null
echo "lens extension: built $(pwd)/lens.vsix" >&2
