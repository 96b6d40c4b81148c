#!/usr/bin/env bash
# Installs what the editor-level tests (tests/e2e/) need; idempotent, quick when done:
#   - Debian packages: chromium (the browser), neovim (0.7, the second LSP client),
#     ripgrep, and libkrb5-dev + pkg-config (code-server's kerberos module builds from source)
#   - playwright-core (drives Chromium; downloads no browser) into tests/e2e/node_modules
#   - code-server 4.100.3 (the real VS Code workbench) into .cache/code-server
#
# code-server needs four fixes to install here (see ../shared/editor-testing.md):
#   1. 4.100.3 is the last release whose engines.node accepts Node 20;
#   2. its postinstall refuses root unless npm_config_unsafe_perm=true;
#   3. @vscode/ripgrep downloads rg from GitHub: we pre-seed its download cache with
#      Debian's rg (it looks in $TMPDIR/vscode-ripgrep-cache-<its version>/ first);
#   4. node-pty's build runs `npx node-gyp`, and npm's `yes=false` here makes npx refuse:
#      npm_config_yes=true.
#
#   bash scripts/setup_e2e.sh
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
CODE_SERVER_VERSION=4.100.3
CODE_SERVER_PREFIX="$REPO/.cache/code-server"
CODE_SERVER_DIR="$CODE_SERVER_PREFIX/node_modules/code-server"
STAMP="$CODE_SERVER_PREFIX/.installed-$CODE_SERVER_VERSION"
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false

say() { echo "lens e2e setup: $*" >&2; }

install_debian_packages() {
  local packages=(libkrb5-dev pkg-config ripgrep chromium neovim) missing=()
  for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_playwright() {
  # npm writes node_modules/.package-lock.json on install: newer than the lock file when up to date.
  if [ ! -f tests/e2e/node_modules/.package-lock.json ] \
     || [ tests/e2e/package-lock.json -nt tests/e2e/node_modules/.package-lock.json ]; then
    say "installing playwright-core"
    (cd tests/e2e && npm ci --no-fund --no-audit --loglevel=error)
  fi
}

# The version of @vscode/ripgrep that code-server's VS Code pins.
ripgrep_package_version() {
  node -e '
    const shrinkwrap = require(process.argv[1]);
    console.log(shrinkwrap.packages["node_modules/@vscode/ripgrep"].version);
  ' "$CODE_SERVER_DIR/lib/vscode/npm-shrinkwrap.json"
}

install_code_server() {
  if [ -f "$STAMP" ] && [ -x "$CODE_SERVER_DIR/lib/vscode/node_modules/@vscode/ripgrep/bin/rg" ]; then
    return 0
  fi
  say "installing code-server $CODE_SERVER_VERSION into .cache/code-server (about 2 minutes)"
  rm -rf "$CODE_SERVER_PREFIX"
  mkdir -p "$CODE_SERVER_PREFIX"
  echo '{ "private": true }' > "$CODE_SERVER_PREFIX/package.json"
  # First without install scripts, to learn which ripgrep version to pre-seed (fix 3) …
  (cd "$CODE_SERVER_PREFIX" && npm install --ignore-scripts --no-save --loglevel=error "code-server@$CODE_SERVER_VERSION")
  local tmp="$CODE_SERVER_PREFIX/tmp" rg_cache
  rg_cache="$tmp/vscode-ripgrep-cache-$(ripgrep_package_version)"
  mkdir -p "$rg_cache"
  tar czf "$rg_cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C "$(dirname "$(command -v rg)")" rg
  # … then every install script, code-server's postinstall (which installs VS Code's
  # own dependencies) included, with fixes 2 and 4.
  (cd "$CODE_SERVER_PREFIX" && TMPDIR="$tmp" npm_config_unsafe_perm=true npm_config_yes=true \
    npm rebuild --loglevel=error >"$CODE_SERVER_PREFIX/install.log" 2>&1) \
    || { tail -30 "$CODE_SERVER_PREFIX/install.log" >&2; say "code-server install failed (log: $CODE_SERVER_PREFIX/install.log)"; exit 1; }
  rm -rf "$tmp"
  [ -x "$CODE_SERVER_DIR/lib/vscode/node_modules/@vscode/ripgrep/bin/rg" ] \
    || { say "code-server installed without ripgrep (log: $CODE_SERVER_PREFIX/install.log)"; exit 1; }
  touch "$STAMP"
}

install_debian_packages
install_playwright
install_code_server
bash scripts/build_extension.sh
say "ready: code-server $CODE_SERVER_VERSION, chromium $(dpkg-query -W -f='${Version}' chromium), neovim $(dpkg-query -W -f='${Version}' neovim)"
