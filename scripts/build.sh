#!/usr/bin/env bash
# Configures and builds moesim into ./build (Release, Ninja, warnings as errors).
# Extra arguments go to cmake's configure step, e.g. -DMOESIM_CUDA=OFF.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DMOESIM_WERROR=ON "$@"
cmake --build build --parallel "$(nproc)"
