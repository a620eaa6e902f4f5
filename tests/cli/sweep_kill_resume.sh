#!/usr/bin/env bash
# sweep_kill_resume.sh MOESIM GRID WORKDIR SEED: a sweep killed with SIGKILL and resumed writes
# the same CSV, byte for byte, as one that was never interrupted.
# Runs the sweep once uninterrupted (the reference), then starts the same sweep with --results
# and kills it with kill -9 after a delay drawn from SEED (a fraction of the reference's run
# time, so the kill lands while cases run), three times, then lets it finish and compares.
set -euo pipefail
moesim=$1
grid=$2
work=$3
RANDOM=$4
strategies=all
rm -rf "$work"
mkdir -p "$work"
cd "$work"

now_ms() { date +%s%3N; }
start=$(now_ms)
"$moesim" sweep "$grid" -s "$strategies" -j 2 -q -o reference.csv >/dev/null
reference_ms=$(($(now_ms) - start))
cases=$(($(wc -l <reference.csv) - 1))
echo "reference: $cases cases in $reference_ms ms"

interrupted=0
for attempt in 1 2 3; do
  # Between 5% and 35% of the reference's time for the first kill (so that it lands while
  # cases run even if this run is faster than the reference), up to 65% later; at least 20 ms.
  spread=$((attempt == 1 ? 31 : 61))
  delay_ms=$((reference_ms * (5 + RANDOM % spread) / 100))
  [ "$delay_ms" -ge 20 ] || delay_ms=20
  "$moesim" sweep "$grid" -s "$strategies" -j 2 -q --results results -o resumed.csv >/dev/null &
  pid=$!
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  if kill -9 "$pid" 2>/dev/null; then
    wait "$pid" 2>/dev/null || true
    kept=$(find results -name 'case-*.json' 2>/dev/null | wc -l)
    torn=$(find results -name '*.tmp-*' 2>/dev/null | wc -l)
    echo "attempt $attempt: killed after $delay_ms ms with $kept of $cases results kept" \
      "($torn temporary files left)"
    if [ "$kept" -lt "$cases" ]; then interrupted=$((interrupted + 1)); fi
    if [ -e resumed.csv ] && [ "$kept" -lt "$cases" ]; then
      echo "FAIL: a CSV was written by a sweep that had not finished"
      exit 1
    fi
  else
    wait "$pid" || true
    echo "attempt $attempt: finished before the kill at $delay_ms ms"
  fi
done
if [ "$interrupted" -eq 0 ]; then
  echo "FAIL: no kill landed while the sweep was running; nothing was tested"
  exit 1
fi

# Resume: only the missing cases run.
"$moesim" sweep "$grid" -s "$strategies" -j 2 -q --results results -o resumed.csv >/dev/null 2>resume.err
cat resume.err
if cmp reference.csv resumed.csv; then
  echo "resumed CSV is identical to the uninterrupted one ($interrupted interrupted runs)"
else
  diff reference.csv resumed.csv | head -20
  echo "FAIL: resumed CSV differs"
  exit 1
fi
