#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install what is missing, build, compare every
# strategy on the built-in default job (moesim compare: MP+EP+ESP across nodes), then check the
# simulator against the papers' published results (moesim reproduce --quick: published vs
# simulated with two-sided bands, and the known gaps). reproduce exits 1 when a result is outside
# its band and not a known gap; the main job reports that exit status.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
./build/sim/app/moesim compare
echo
./build/sim/app/moesim reproduce --quick
