#!/usr/bin/env bash
# Rewrites the golden summaries (tests/golden/<strategy>.json) from the current simulator, for a
# change that moves simulated numbers on purpose. Review `git diff tests/golden` and commit it
# with the change: the diff is how reviewers see which numbers moved and by how much.
#   scripts/update-golden.sh [build-dir]      (default: build; builds moesim_golden_tests first)
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${1:-build}"
if [[ ! -f "${build_dir}/CMakeCache.txt" ]]; then
  echo "error: ${build_dir}: no configured build here (run scripts/build.sh first)" >&2
  exit 2
fi
cmake --build "${build_dir}" --target moesim_golden_tests
MOESIM_UPDATE_GOLDEN=1 "${build_dir}/tests/golden/moesim_golden_tests" --gtest_brief=1
git --no-pager diff --stat -- tests/golden || true
