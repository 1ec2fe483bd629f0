#!/usr/bin/env bash
# vlitq GPU check (#18.6): CLIP ViT-L-14 fp16/bf16 images/s (random weights, batch 64-512),
# DBSCAN on the GPU at 1M 384-d vectors (exact blocked path and exact k-NN graph, their ARI),
# and the local judge path (random Llama of SmolLM2-135M's shape). Under 8 minutes on one
# H200-class GPU; no network.
#
#   bash benchmarks/gpu_check.sh               # on the GPU machine, from the repository root
#   bash benchmarks/gpu_check.sh --tiny        # the same code paths on the CPU, tiny sizes
#   bash benchmarks/gpu_check.sh --dry-run     # check the environment and imports only
#
# Packages beyond PyTorch travel as wheels in .whl/ (no network there), installed with
#   pip install --no-index --no-deps --target /tmp/site .whl/*.whl
# Prepare them here (Python 3.12 wheels for the machine's interpreter):
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
#     --platform manylinux2014_x86_64 -d .whl \
#     open_clip_torch==3.3.0 ftfy==6.3.1 wcwidth==0.2.14 polars==2.1.0 polars-runtime-32==2.1.0
# (torch, torchvision, transformers, timm, scikit-learn, scipy, pyarrow, pillow, numpy are in
# the machine's image.) Optional: $VLITQ_BENCH_DIR/density_base_minilm.npy (6 MB, written by
# benchmarks/bench_density.py) copied to .whl/ makes the DBSCAN data use real sentence
# embeddings as centres; without it, Gaussian centres (the script says which).
# Figures are printed as Markdown tables and, when $OUT is set, written to $OUT/gpu_check.json.
set -uo pipefail
cd "$(dirname "$0")/.."
MODE=full
ARGS=()
for a in "$@"; do
  case "$a" in
    --tiny) MODE=tiny; ARGS+=(--tiny) ;;
    --dry-run) MODE=dry ;;
    *) ARGS+=("$a") ;;
  esac
done
PY=${PYTHON:-python3}
if compgen -G ".whl/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/vlitq-site .whl/*.whl || { echo "wheel install failed"; exit 1; }
  export PYTHONPATH="$PWD:/tmp/vlitq-site${PYTHONPATH:+:$PYTHONPATH}"
else
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
if [ -f .whl/density_base_minilm.npy ]; then
  export VLITQ_BENCH_DIR=/tmp/vlitq-bench
  mkdir -p "$VLITQ_BENCH_DIR" && cp .whl/density_base_minilm.npy "$VLITQ_BENCH_DIR/"
fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 VLITQ_DISABLE_PROGRESS_BARS=1
export VLITQ_CACHE_HOME=${VLITQ_CACHE_HOME:-/tmp/vlitq-gpu-check-cache}
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version \
  --format=csv,noheader
"$PY" - <<'PY' || exit 1
import importlib, sys
missing = []
for m in ("torch", "numpy", "scipy", "sklearn", "polars", "pyarrow", "PIL", "open_clip",
          "transformers", "tokenizers", "vlitq"):
    try:
        importlib.import_module(m)
    except Exception as exc:
        missing.append(f"{m} ({type(exc).__name__}: {exc})")
import torch
print(f"python {sys.version.split()[0]}, torch {torch.__version__}, "
      f"cuda available: {torch.cuda.is_available()}")
if missing:
    print("missing: " + "; ".join(missing) + " -- carry them as wheels in .whl/")
    sys.exit(1)
PY
if [ "$MODE" = dry ]; then
  echo "dry run: environment ready"
  exit 0
fi
if [ "$MODE" = full ]; then
  # the whole check stays under 8 minutes: each section is bounded by its sizes, this by time
  exec timeout 470 "$PY" benchmarks/gpu_check.py "${ARGS[@]}"
fi
exec "$PY" benchmarks/gpu_check.py "${ARGS[@]}"
