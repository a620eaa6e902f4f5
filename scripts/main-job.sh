#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install what is missing, build, run the default.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
./build/sim/app/moesim simulate
