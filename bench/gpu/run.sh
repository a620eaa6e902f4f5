#!/usr/bin/env bash
# bench/gpu/run.sh: on a GPU machine, build moesim with CUDA, run the GPU tests, run every GPU
# benchmark and write measurement files to traces/measured/<gpu>/<date>/, then fit them with
# `moesim calibrate` (profile.json) and report the held-out check (check.txt).
#
#   bash bench/gpu/run.sh [--quick] [--gpus N] [--out DIR]
#     --quick   a small sweep (minutes instead of about an hour)
#     --gpus N  GPUs for the NCCL and overlap benchmarks (default: all visible)
#     --out DIR output directory (default traces/measured/<gpu>/<date>)
# Needs nvcc (CUDA >= 12), NCCL, cuBLAS and the Debian packages of scripts/install-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/gpu/common.sh

quick=0
gpus=""
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --gpus) gpus="$2"; shift ;;
    --out) out="$2"; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

command -v nvidia-smi >/dev/null || { echo "error: nvidia-smi not found: no GPU driver" >&2; exit 1; }
gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
visible=$(nvidia-smi --query-gpu=name --format=csv,noheader | wc -l)
gpus=${gpus:-$visible}
slug=$(gpu_slug)
date=$(date -u +%Y-%m-%d)
out=${out:-traces/measured/$slug/$date}
mkdir -p "$out"
export MOESIM_DRIVER_VERSION=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)
export MOESIM_GIT_SHA=$(git rev-parse HEAD 2>/dev/null || echo unknown)
echo "== $gpu_name x$visible (using $gpus), driver $MOESIM_DRIVER_VERSION, commit $MOESIM_GIT_SHA -> $out"

# Build for this GPU's architecture (compute capability, e.g. 9.0 -> 90).
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '.')
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOESIM_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES="$arch" -DMOESIM_WERROR=ON
cmake --build build-gpu

echo "== tests (CPU and GPU)"
ctest --test-dir build-gpu --output-on-failure -j4 | tee "$out/tests.txt"
ctest --test-dir build-gpu -L gpu --output-on-failure | tee "$out/gpu-tests.txt"
if grep -q "Skipped" "$out/gpu-tests.txt"; then
  echo "error: GPU tests were skipped on a GPU machine (no usable device?)" >&2
  exit 1
fi

echo "== kernel benchmarks"
kargs=(--out "$out/kernels.json" --benchmark_out="$out/kernels-gbench.json" --benchmark_out_format=json)
[ "$quick" = 1 ] && kargs+=(--quick)
build-gpu/bench/kernels/moesim_bench_kernels "${kargs[@]}"

echo "== NCCL benchmarks ($gpus GPUs)"
max=8G
[ "$quick" = 1 ] && max=256M
if [ "$gpus" -ge 2 ]; then
  for op in all_reduce all_gather reduce_scatter alltoall alltoallv sendrecv; do
    build-gpu/bench/nccl/moesim_bench_nccl "$op" -b 8 -e "$max" -f 2 -w 5 -n 20 -g "$gpus" \
      | tee "$out/${op}_perf.txt"
  done
else
  echo "(one GPU: collectives skipped)"
fi

echo "== overlap contention"
build-gpu/bench/nccl/moesim_bench_overlap -g "$gpus" --json "$out/overlap.json" | tee "$out/overlap.txt"

echo "== calibrate"
inputs=("$out/kernels.json" "$out/overlap.json")
for f in "$out"/*_perf.txt; do [ -e "$f" ] && inputs+=("$f"); done
build-gpu/sim/app/moesim calibrate "${inputs[@]}" -o "$out/profile.json" | tee "$out/calibrate.txt"
build-gpu/sim/app/moesim calibrate --check "$out/kernels.json" --holdout 0.2 --seed 1 \
  | tee "$out/check.txt"
echo "== done: measurements, profile.json and check.txt in $out"
