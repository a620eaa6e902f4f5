#!/usr/bin/env bash
# Every test on a fresh Debian 12 machine: install what is missing, check formatting, build,
# run all tests. GPU tests skip themselves where no GPU is usable. Then the same CPU tests (less
# the slow validation grids) under the address + undefined-behaviour sanitizers, and a smoke run
# of every libFuzzer target (scripts/fuzz.sh). MOESIM_SKIP_SANITIZE=1 / MOESIM_SKIP_FUZZ=1 skip
# those two steps (e.g. for a quick local run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/check-format.sh
bash scripts/check-includes.sh
bash scripts/build.sh
ctest --test-dir build --output-on-failure --parallel "$(nproc)" --timeout 600
# The published results, quick subset: CI prints every claim's verdict and the known gaps
# (exit 1 if a result falls outside its band without being a known gap).
./build/sim/app/moesim reproduce --quick

if [ "${MOESIM_SKIP_SANITIZE:-0}" != 1 ]; then
  # -O1: sanitizer reports stay readable and the build stays short; no benchmarks.
  # -Wno-maybe-uninitialized: GCC 12 reports false positives inside libstdc++'s std::regex and
  # std::function when ASan instruments them at -O1 (the Release build keeps the warning).
  # Unity build (CMake's default batches of 8 sources): the headers every source includes (fmt,
  # nlohmann-json, Boost.Graph, gtest) and their inline functions are compiled once per batch, not
  # once per source. The Release build above, the shipped binary, stays one object per source.
  # -Wno-subobject-linkage: in a unity batch every source is an included file, so GCC takes a
  # class with an anonymous-namespace member for one declared in a header (the Release build,
  # one object per source, keeps the warning where it means something).
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1 -Wno-maybe-uninitialized -Wno-subobject-linkage" \
    -DMOESIM_SANITIZE=address,undefined -DMOESIM_WERROR=ON -DMOESIM_CUDA=OFF \
    -DMOESIM_BUILD_BENCH=OFF -DCMAKE_UNITY_BUILD=ON -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
  cmake --build build-asan -j"$(nproc)"
  # Asserts are on here (Debug): Boost's own self-checks (e.g. push_relabel_max_flow's is_flow())
  # run on every flow network the tests build. The browser test (one Chromium run per report) is
  # left out: the page's C++ is covered by moesim_report_html_tests here, and Chromium is not
  # instrumented.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure --parallel "$(nproc)" --timeout 600 \
    -LE "validation|gpu|browser"
fi
if [ "${MOESIM_SKIP_FUZZ:-0}" != 1 ]; then
  bash scripts/fuzz.sh 5
fi
