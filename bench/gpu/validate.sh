#!/usr/bin/env bash
# Runs `moesim validate` for the single-GPU task graphs on this machine's GPU and writes, per
# graph, the side-by-side Perfetto trace, the comparison JSON and the printed table under
# traces/measured/<gpu>/validation/. Needs a CUDA build (scripts/build.sh on a machine with nvcc)
# and a usable GPU.
#
#   bash bench/gpu/validate.sh [--iterations N] [--warmup N] [GRAPH.json ...]
#
# The prediction's roofline uses the GPU's datasheet peaks (shared/reference/hardware.md:
# H100 SXM 989 TFLOP/s dense bf16, 3.35 TB/s HBM3; H200 SXM 989 TFLOP/s, 4.8 TB/s HBM3e
# [doc stas00]); other GPUs fall back to the H100 numbers unless MOESIM_TFLOPS / MOESIM_HBM_GBPS
# are set.
set -euo pipefail
cd "$(dirname "$0")/../.."
moesim=${MOESIM:-./build/sim/app/moesim}
iterations=20
warmup=5
graphs=()
while (($#)); do
  case "$1" in
    --iterations) iterations=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    *) graphs+=("$1"); shift ;;
  esac
done
if ((${#graphs[@]} == 0)); then
  graphs=(tests/kernels/runtime/data/moe_layer_1gpu.json
          tests/kernels/runtime/data/chunked_pipeline_1gpu.json)
fi
[ -x "$moesim" ] || { echo "no $moesim: build first (bash scripts/build.sh)" >&2; exit 2; }
name=$(nvidia-smi --query-gpu=name --format=csv,noheader -i 0 2>/dev/null | head -1 || true)
[ -n "$name" ] || { echo "no GPU visible to nvidia-smi" >&2; exit 2; }
gpu=$(echo "$name" | tr '[:upper:]' '[:lower:]' | sed -e 's/nvidia //' -e 's/[^a-z0-9]\+/_/g' -e 's/_$//')
case "$name" in
  *H200*) tflops=989; hbm=4800 ;;
  *) tflops=989; hbm=3350 ;;
esac
tflops=${MOESIM_TFLOPS:-$tflops}
hbm=${MOESIM_HBM_GBPS:-$hbm}
out=traces/measured/$gpu/validation
mkdir -p "$out"
for graph in "${graphs[@]}"; do
  base=$(basename "$graph" .json)
  echo "== $base on $name"
  "$moesim" validate --graph "$graph" --iterations "$iterations" --warmup "$warmup" \
      --tflops "$tflops" --hbm-gbps "$hbm" \
      --trace "$out/$base.trace.json" --json "$out/$base.comparison.json" | tee "$out/$base.txt"
done
echo "wrote $out"
