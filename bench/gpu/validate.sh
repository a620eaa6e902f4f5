#!/usr/bin/env bash
# bench/gpu/validate.sh: everything the hardware executor needs checked on a GPU, in one run that
# fits in 10 minutes on one H200 (budget below). Steps, each timed into the log:
#   1. build only the needed targets, with every core, into build-gpu (CUDA on, this GPU's
#      architecture): moesim, libmoesim_hardware.so, the GPU tests, the kernel benchmark
#      [about 3-4 min from scratch on 16 cores; seconds when build-gpu exists]
#   2. the GPU tests (ctest -L gpu: every kernel against its float64 CPU reference, the executor
#      end to end); skipped tests on a GPU machine are a failure  [about 1 min]
#   3. a quick kernel sweep (moesim_bench_kernels --quick) -> kernels.json  [about 1-2 min]
#   4. `moesim validate` of every strategy's single-GPU job (two GPT2-S-MoE layers, 4 local
#      experts, the h100-1gpu / h200-1gpu preset) and of the single-GPU task graphs of
#      tests/kernels/runtime/data  [seconds each]
# Writes under traces/measured/<gpu>/validation/: per run the side-by-side Perfetto trace, the
# comparison JSON and the printed table, plus tests.txt, kernels.json and provenance.txt.
#
#   bash bench/gpu/validate.sh [--iterations N] [--warmup N] [--no-build] [--no-sweep]
#                              [--no-strategies] [GRAPH.json ...]
#     --no-build   use an existing build (MOESIM=path/to/moesim, default build-gpu/sim/app/moesim)
#
# The prediction's roofline uses the GPU's datasheet peaks (stas00/ml-engineering compute/accelerator/README.md, docs/sources.md:
# H100 SXM 989 TFLOP/s dense bf16, 3.35 TB/s HBM3; H200 SXM 989 TFLOP/s, 4.8 TB/s HBM3e
# [doc]); other GPUs fall back to the H100 numbers unless MOESIM_TFLOPS / MOESIM_HBM_GBPS
# are set.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/gpu/common.sh
iterations=10
warmup=3
build=1
sweep=1
strategies=1
graphs=()
while (($#)); do
  case "$1" in
    --iterations) iterations=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --no-sweep) sweep=0; shift ;;
    --no-strategies) strategies=0; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    -*) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
    *) graphs+=("$1"); shift ;;
  esac
done
if ((${#graphs[@]} == 0)); then
  graphs=(tests/kernels/runtime/data/moe_layer_1gpu.json
          tests/kernels/runtime/data/chunked_pipeline_1gpu.json)
fi
name=$(nvidia-smi --query-gpu=name --format=csv,noheader -i 0 2>/dev/null | head -1 || true)
[ -n "$name" ] || { echo "error: no GPU visible to nvidia-smi" >&2; exit 2; }
gpu=$(gpu_slug)
case "$name" in
  *H200*) tflops=989; hbm=4800; topology=h200-1gpu ;;
  *) tflops=989; hbm=3350; topology=h100-1gpu ;;
esac
tflops=${MOESIM_TFLOPS:-$tflops}
hbm=${MOESIM_HBM_GBPS:-$hbm}
out=traces/measured/$gpu/validation
mkdir -p "$out"
start=$SECONDS
step() { echo "== [$((SECONDS - start)) s] $*"; }

if ((build)); then
  step "build (only the needed targets, $(nproc) cores)"
  arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '.')
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache
                                            -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
  cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOESIM_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES="$arch" -DMOESIM_WERROR=ON "${launcher[@]}" >/dev/null
  cmake --build build-gpu --parallel "$(nproc)" --target moesim moesim_hardware \
    moesim_kernel_gpu_tests moesim_runtime_gpu_tests moesim_bench_kernels
fi
moesim=${MOESIM:-./build-gpu/sim/app/moesim}
[ -x "$moesim" ] || { echo "error: no $moesim: build first (drop --no-build)" >&2; exit 2; }
bin=$(dirname "$moesim")/../..

{
  echo "gpu: $name"
  nvidia-smi --query-gpu=driver_version,compute_cap --format=csv,noheader -i 0
  echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "iterations: $iterations, warm-up: $warmup"
} > "$out/provenance.txt"

failed=()
step "GPU tests"
if ! ctest --test-dir "$bin" -L gpu --output-on-failure -j2 | tee "$out/tests.txt"; then
  failed+=(gpu-tests)
fi
if grep -q "Skipped" "$out/tests.txt"; then
  echo "error: GPU tests were skipped on a GPU machine" >&2
  failed+=(gpu-tests-skipped)
fi

if ((sweep)); then
  step "quick kernel sweep"
  "$bin/bench/kernels/moesim_bench_kernels" --quick --out "$out/kernels.json" |
    tail -5 || failed+=(kernel-sweep)
fi

if ((strategies)); then
  # The registry's names, as `moesim run --help` lists them.
  names=$("$moesim" run --help | sed -n "s/.*or 'all': \([^.]*\)\..*/\1/p" | tr -d ',')
  [ -n "$names" ] || { echo "could not read the strategy names from moesim run --help" >&2; exit 1; }
  for strategy in $names; do
    step "$strategy (single-GPU job) on $name"
    "$moesim" validate --model gpt2-s-moe --set layers=2,experts=4 --topology "$topology" \
        --parallel ep=1 --strategy "$strategy" --iterations "$iterations" --warmup "$warmup" \
        --trace "$out/$strategy.trace.json" --json "$out/$strategy.comparison.json" |
      tee "$out/$strategy.txt" || failed+=("$strategy")
  done
fi
for graph in "${graphs[@]}"; do
  base=$(basename "$graph" .json)
  step "$base on $name"
  "$moesim" validate --graph "$graph" --iterations "$iterations" --warmup "$warmup" \
      --tflops "$tflops" --hbm-gbps "$hbm" \
      --trace "$out/$base.trace.json" --json "$out/$base.comparison.json" | tee "$out/$base.txt" ||
    failed+=("$base")
done
step "done: wrote $out"
# A failure does not stop the others (device time is scarce); it is reported here and in rc.
if ((${#failed[@]})); then
  echo "failed: ${failed[*]}" >&2
  exit 1
fi
