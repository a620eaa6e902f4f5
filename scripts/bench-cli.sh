#!/usr/bin/env bash
# Scale benchmarks through the CLI (issue 14): each case runs once under /usr/bin/time -v and the
# table gives wall time, CPU time (user + sys) and peak RSS. On a shared machine wall time
# includes waiting for a core; CPU time is the work.
#   bash scripts/bench-cli.sh                 # every case, the three baseline strategies
#   bash scripts/bench-cli.sh --all-strategies  # the iteration for every registered strategy
#   MOESIM=path/to/moesim bash scripts/bench-cli.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MOESIM=${MOESIM:-build/sim/app/moesim}
STRATEGIES="deepspeed-moe tutel fastermoe"
if [[ "${1:-}" == "--all-strategies" ]]; then
  # Every strategy `--strategy all` runs (dualpipe and dualpipev need pp >= 2: not this layout).
  STRATEGIES="deepspeed-moe tutel fastermoe fsmoe fsmoe-no-iio tutel-improved lancet flexmoe parm \
parm-s1 parm-s2 deepspeed-ted deepspeed-ted-base megatron megatron-a2a-overlap"
elif [[ -n "${1:-}" ]]; then
  echo "error: $1: unknown option (got \"$1\", expected --all-strategies or nothing)" >&2
  exit 2
fi
if [[ ! -x "$MOESIM" ]]; then
  echo "error: $MOESIM: not built (got no executable, expected cmake --build build)" >&2
  exit 2
fi
# Load average before and after: on a shared machine wall time means little without it.
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rows=()

# measure NAME COMMAND...: runs COMMAND (stdout discarded), appends a table row.
measure() {
  local name=$1
  shift
  echo "running: $name" >&2
  if ! /usr/bin/time -v -o "$work/time.txt" "$@" > /dev/null 2> "$work/stderr.txt"; then
    echo "error: $name failed:" >&2
    cat "$work/stderr.txt" >&2
    exit 1
  fi
  local wall user sys rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")
  user=$(awk -F': ' '/User time/ {print $2}' "$work/time.txt")
  sys=$(awk -F': ' '/System time/ {print $2}' "$work/time.txt")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
  rows+=("$(printf '| %-58s | %9s | %8.2f | %8.0f |' "$name" "$wall" \
    "$(echo "$user + $sys" | bc)" "$(echo "$rss / 1024" | bc -l)")")
}

measure "moesim --version (start-up)" "$MOESIM" --version
measure "topology generate, 2048 DGX-H100 nodes (16,384 GPUs)" \
  "$MOESIM" topology generate --node dgx-h100 --nodes 2048 -o "$work/c2048.json"
measure "topology show (load + bisection), 16,384 GPUs" "$MOESIM" topology show "$work/c2048.json"
"$MOESIM" topology generate --node dgx-h100 --nodes 128 -o "$work/c128.json" > /dev/null
"$MOESIM" topology generate --node dgx-h100 --nodes 512 -o "$work/c512.json" > /dev/null
# nccl-tests all_to_all size = bytes each rank sends in all: 1 MiB to each of N peers. The scale
# case is the direct algorithm, one flow per pair (1.05 M / 16.8 M flows): --algo direct, and
# --no-pxn, since PXN relays and aggregates cross-rail pairs (auto = direct with PXN).
measure "collective all_to_all flow, 1,024 GPUs, 1 MiB per pair" \
  "$MOESIM" collective --topology "$work/c128.json" --op all_to_all -b 1G -e 1G --model flow \
  --algo direct --no-pxn
measure "collective all_to_all flow, 4,096 GPUs, 1 MiB per pair" \
  "$MOESIM" collective --topology "$work/c512.json" --op all_to_all -b 4G -e 4G --model flow \
  --algo direct --no-pxn
for s in $STRATEGIES; do
  measure "run mixtral-8x7b tp=4 ep=8 flow, 1,024 GPUs, $s" \
    "$MOESIM" run --model mixtral-8x7b --topology dgx-h100 --nodes 128 --parallel tp=4,ep=8 \
    --network flow --routing zipf:1.2 --strategy "$s"
done
# DeepSeek-V3's training job (issue 19): 61 layers on 16 stages as Megatron-Bridge's recipe.
measure "run deepseek-v3 dualpipe ep=64 pp=16, 2,048 H800 GPUs" \
  "$MOESIM" run --model deepseek-v3 --topology hgx-h800 --nodes 256 \
  --parallel ep=64,pp=16,mb=32,last_stage_layers=1 --strategy dualpipe --network analytical

echo "load average (1, 5, 15 min): before $load_before, after $(cut -d' ' -f1-3 /proc/loadavg)"
printf '| %-58s | %9s | %8s | %8s |\n' "case" "wall" "CPU s" "peak MB"
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..60})" "-----------" "----------" "----------"
printf '%s\n' "${rows[@]}"
