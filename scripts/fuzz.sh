#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang, address + undefined-behaviour sanitizers) in
# build-fuzz/ and runs each for SECONDS seconds (default 5: the CI smoke), in one process each
# (no -jobs: it would leave fuzz-N.log files in the working directory).
# Seeds are the checked-in inputs of the matching kind plus the hostile corpus' data; findings
# (crash-*, leak-*, timeout-*) are written to $FUZZ_WORK/findings/<target>/ and fail the script.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# FUZZ_WORK: where the growing corpora, findings and per-target logs go (default build-fuzz; a
# long run keeps them outside the tree). FUZZ_PARALLEL: targets run at once (default 1).
# The 10-minute run of tests/fuzz/README.md: FUZZ_WORK=/tmp/fuzz FUZZ_PARALLEL=2 nice -n 5 scripts/fuzz.sh 600
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
shift || true
# Unity build (batches of 8 sources) as in scripts/test.sh's sanitizer build: shared headers are
# compiled once per batch.
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" -DMOESIM_FUZZ=ON \
  -DMOESIM_BUILD_TESTS=OFF -DMOESIM_BUILD_BENCH=OFF -DMOESIM_CUDA=OFF -DCMAKE_UNITY_BUILD=ON \
  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >/dev/null
targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(fuzz_model_json fuzz_topology_json fuzz_gpu_spec_json fuzz_task_graph_json
    fuzz_routing_trace_json fuzz_routing_trace_csv fuzz_measurement_json fuzz_profile_json
    fuzz_sweep_grid_json fuzz_nccl_tests_text fuzz_nccl_tests_json
    fuzz_parallel_flag fuzz_routing_flag fuzz_set_flag fuzz_size_flag)
fi
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]}"

seeds_of() {
  case $1 in
    fuzz_model_json) echo traces/models ;;
    fuzz_topology_json) echo topologies ;;
    fuzz_gpu_spec_json) echo topologies/gpus ;;
    fuzz_task_graph_json) echo tests/hostile/data tests/kernels/runtime/data ;;
    fuzz_routing_trace_json | fuzz_routing_trace_csv) echo traces/routing tests/hostile/data ;;
    fuzz_measurement_json | fuzz_profile_json | fuzz_nccl_tests_text) echo traces/measured/h100-published ;;
    fuzz_sweep_grid_json) echo traces/grids ;;
    *) ;; # only its own seeds (below)
  esac
}

work_root=${FUZZ_WORK:-build-fuzz}
parallel=${FUZZ_PARALLEL:-1}

# fuzz_one TARGET: runs TARGET for $seconds; exit status 1 on a finding.
fuzz_one() {
  local t=$1
  local work=$work_root/corpus/$t
  local findings=$work_root/findings/$t
  mkdir -p "$work" "$findings"
  local seeds existing=()
  read -r -a seeds <<<"$(seeds_of "$t")"
  for s in "${seeds[@]}" tests/fuzz/seeds/"$t"; do [ -d "$s" ] && existing+=("$s"); done
  # -rss_limit_mb: a loader must refuse, not allocate, a hostile size. -timeout: no input may
  # take 10 s. The first corpus directory ($FUZZ_WORK/corpus) is the writable one.
  if ! ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "build-fuzz/tests/fuzz/$t" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 -artifact_prefix="$findings/" \
    "$work" "${existing[@]}" >"$findings/log.txt" 2>&1; then
    echo "FINDING in $t: see $findings/log.txt"
    tail -30 "$findings/log.txt"
    return 1
  fi
  echo "== $t: ${seconds}s $(grep -E "stat::number_of_executed_units|stat::new_units_added" \
    "$findings/log.txt" | tr '\n' ' ')"
}

failed=0
running=0
for t in "${targets[@]}"; do
  if ((running == parallel)); then
    wait -n || failed=1
    running=$((running - 1))
  fi
  fuzz_one "$t" &
  running=$((running + 1))
done
while ((running > 0)); do
  wait -n || failed=1
  running=$((running - 1))
done
exit $failed
