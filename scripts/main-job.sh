#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install what is missing, build, and compare every
# strategy on the built-in default job (moesim compare).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
./build/sim/app/moesim compare
