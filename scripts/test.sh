#!/usr/bin/env bash
# The whole test suite, slow tests included (what CI runs).  For the fast ones
# only while developing: .venv/bin/python -m pytest
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 OMP_WAIT_POLICY=PASSIVE TOKENIZERS_PARALLELISM=false
export LENS_CACHE_DIR="${LENS_CACHE_DIR:-$(mktemp -d -t lens-test-cache.XXXXXX)}"
exec .venv/bin/python -m pytest -m "slow or not slow" "$@"
