#!/usr/bin/env bash
# Runs `moesim validate` on this machine's GPU for (1) a single-GPU job of every strategy
# (two GPT2-S-MoE layers with 4 local experts on the h100-1gpu / h200-1gpu preset: MoE layers
# with several local experts, Tutel/FSMoE chunked pipelines) and (2) the single-GPU task graphs
# of tests/kernels/runtime/data (a copy stream beside compute). Per run it writes the
# side-by-side Perfetto trace, the comparison JSON and the printed table under
# traces/measured/<gpu>/validation/. Needs a CUDA build (scripts/build.sh on a machine with
# nvcc) and a usable GPU.
#
#   bash bench/gpu/validate.sh [--iterations N] [--warmup N] [--no-strategies] [GRAPH.json ...]
#
# The prediction's roofline uses the GPU's datasheet peaks (stas00/ml-engineering compute/accelerator/README.md, docs/sources.md:
# H100 SXM 989 TFLOP/s dense bf16, 3.35 TB/s HBM3; H200 SXM 989 TFLOP/s, 4.8 TB/s HBM3e
# [doc]); other GPUs fall back to the H100 numbers unless MOESIM_TFLOPS / MOESIM_HBM_GBPS
# are set.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/gpu/common.sh
moesim=${MOESIM:-./build/sim/app/moesim}
iterations=20
warmup=5
strategies=1
graphs=()
while (($#)); do
  case "$1" in
    --iterations) iterations=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --no-strategies) strategies=0; shift ;;
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
gpu=$(gpu_slug)
case "$name" in
  *H200*) tflops=989; hbm=4800; topology=h200-1gpu ;;
  *) tflops=989; hbm=3350; topology=h100-1gpu ;;
esac
tflops=${MOESIM_TFLOPS:-$tflops}
hbm=${MOESIM_HBM_GBPS:-$hbm}
out=traces/measured/$gpu/validation
mkdir -p "$out"
failed=()
if ((strategies)); then
  # The registry's names, as `moesim run --help` lists them.
  names=$("$moesim" run --help | sed -n "s/.*or 'all': \([^.]*\)\..*/\1/p" | tr -d ',')
  [ -n "$names" ] || { echo "could not read the strategy names from moesim run --help" >&2; exit 1; }
  for strategy in $names; do
    echo "== $strategy (single-GPU job) on $name"
    "$moesim" validate --model gpt2-s-moe --set layers=2,experts=4 --topology "$topology" \
        --parallel ep=1 --strategy "$strategy" --iterations "$iterations" --warmup "$warmup" \
        --trace "$out/$strategy.trace.json" --json "$out/$strategy.comparison.json" |
      tee "$out/$strategy.txt" || failed+=("$strategy")
  done
fi
for graph in "${graphs[@]}"; do
  base=$(basename "$graph" .json)
  echo "== $base on $name"
  "$moesim" validate --graph "$graph" --iterations "$iterations" --warmup "$warmup" \
      --tflops "$tflops" --hbm-gbps "$hbm" \
      --trace "$out/$base.trace.json" --json "$out/$base.comparison.json" | tee "$out/$base.txt" ||
    failed+=("$base")
done
echo "wrote $out"
# A failure does not stop the others (device time is scarce); it is reported here and in rc.
if ((${#failed[@]})); then
  echo "failed: ${failed[*]}" >&2
  exit 1
fi
