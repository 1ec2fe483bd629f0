#!/usr/bin/env bash
# A full quality-control pass over the bundled example, from the command line:
# gate the raw data (fails: it has planted defects), filter it by rules into a clean subset with
# a manifest of every drop, gate the subset (passes), and render both reports side by side.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-/tmp/vlitq-qc}
mkdir -p "$out"
data=examples/data/llava/llava.jsonl
export HF_HUB_OFFLINE=1 VLITQ_DISABLE_PROGRESS_BARS=1

echo "== 1. release gate on the raw data (expected to fail)"
if vlitq check "$data" --gate examples/qc/gate.toml --quiet; then
  echo "unexpected: the raw data passed"; exit 1
fi

echo "== 2. filter by rules -> $out/kept.jsonl (+ manifest)"
vlitq filter "$data" --rules examples/qc/rules.toml --out "$out/kept.jsonl" --quiet

echo "== 3. release gate on the kept subset"
# LLaVA records hold image paths relative to an image folder: point at the original one
vlitq check "$out/kept.jsonl" --image-root examples/data/llava --gate examples/qc/gate.toml --quiet

echo "== 4. reports of both, and the comparison"
scorers=text_stats,image_check,duplicates,elements,instruction_type,tasks,task_diversity,balance
vlitq score "$data" --scorers $scorers --out "$out/raw" --quiet > /dev/null
vlitq score "$out/kept.jsonl" --image-root examples/data/llava --scorers $scorers \
  --out "$out/kept" --quiet > /dev/null
vlitq report "$out/raw" "$out/kept" --compare --name raw --name kept --out "$out/compare.md"
cat "$out/compare.md"
echo "manifest: $out/kept.jsonl.manifest.json"
