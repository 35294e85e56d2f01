#!/usr/bin/env bash
# PyTorch and partialnet-ts on the same machine, one after the other, at 1 and 2 threads:
# writes the PyTorch reference files, then runs our benchmarks against them. Run it on an idle
# machine (it takes ~30 min on 2 cores) after `pnpm build`. Each measurement, on both sides, warms up for
# 5 s and is timed for at least 5 s (--warmup-seconds, --min-seconds), so its median is of many runs.
#   scripts/bench-vs-pytorch.sh PATH/TO/PartialNet OUT_DIR [THREADS...]
# PATH/TO/PartialNet: a checkout of github.com/haiduo/PartialNet (commit 679cfc0); python3 with
# torch, torchvision and easydict (Debian: python3-torch python3-torchvision python3-easydict
# libopenblas0-pthread). OUT_DIR gets pytorch-<n>thread.json, t0-official.onnx and ours-<n>thread.jsonl.
set -euo pipefail
official=${1:?usage: $0 PATH/TO/PartialNet OUT_DIR [THREADS...]}
out=${2:?usage: $0 PATH/TO/PartialNet OUT_DIR [THREADS...]}
shift 2
if [ $# -eq 0 ]; then threads=(1 2); else threads=("$@"); fi
root=$(cd "$(dirname "$0")/.." && pwd)
# the first python that has torch (pyenv shims often shadow Debian's /usr/bin/python3)
py=""
for candidate in ${PYTHON:-} python3 /usr/bin/python3; do
  if "$candidate" -c 'import torch, torchvision' 2>/dev/null; then py=$candidate; break; fi
done
[ -n "$py" ] || { echo "no python3 with torch and torchvision (set PYTHON=...)" >&2; exit 1; }
mkdir -p "$out"
fixture=()
[ -d "$root/../shared/fixtures/partialnet/t0-224x224" ] && fixture=(--fixture "$root/../shared/fixtures/partialnet/t0-224x224")
for n in "${threads[@]}"; do
  onnx=()
  [ "$n" = "${threads[0]}" ] && onnx=(--onnx-out "$out/t0-official.onnx")
  echo "== PyTorch, $n thread(s)" >&2
  "$py" "$root/apps/cli/reference/pytorch_reference.py" --official "$official" --threads "$n" --iters 5 --warmup 2 --min-seconds 5 \
    "${fixture[@]}" "${onnx[@]}" --out "$out/pytorch-${n}thread.json" > /dev/null
done
for n in "${threads[@]}"; do
  echo "== partialnet-ts, $n thread(s)" >&2
  {
    node "$root/apps/cli/dist/main.js" bench backbone --train --threads "$n" --iters 5 --warmup 2 --min-seconds 5 \
      --runtime tfjs,onnx --onnx-reference "$out/t0-official.onnx" --reference "$out/pytorch-${n}thread.json"
    node "$root/apps/cli/dist/main.js" bench detection --threads "$n" --iters 3 --warmup 1 --min-seconds 5 \
      --runtime tfjs,onnx --reference "$out/pytorch-${n}thread.json"
  } 2> >(grep -v '^BatchNorm2d: one value' >&2) | tee "$out/ours-${n}thread.jsonl"
done
