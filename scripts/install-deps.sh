#!/usr/bin/env bash
# Installs every build and test dependency of moesim from Debian 12 packages (run as root).
# Installs only what is missing, so it is fast on a machine that already has everything.
# CUDA and NCCL are not Debian packages: they are expected under /usr/local/cuda and optional.
set -euo pipefail

packages=(
  cmake ninja-build g++ git pkg-config
  libboost-graph-dev     # Boost.Graph (header-only): routing in sim/network
  libfmt-dev             # fmt
  nlohmann-json3-dev     # JSON input and output
  libcli11-dev           # the command line
  googletest libgtest-dev libgmock-dev
  libbenchmark-dev       # Google Benchmark
  clang-format           # the format check in scripts/test.sh
  libopenmpi-dev openmpi-bin  # multi-process hardware executor (kernels/runtime)
  parallel               # GNU parallel: the sweep recipes and their test (docs/sweep-grid.md)
  libprotobuf-dev protobuf-compiler  # Chakra execution traces (sim/io/chakra_trace)
  python3                # tests/hostile/run_corpus.py (the hostile-input corpus)
  clang libclang-rt-14-dev  # libFuzzer targets in tests/fuzz (scripts/fuzz.sh)
  nodejs                 # node + npm: `npm ci` below, the HTML report's charting library
  chromium               # headless browser test of the HTML reports (tests/browser)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Debian ships npm as its own package; a node from elsewhere (NodeSource) brings its own npm.
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: missing packages and not root; run as root: apt-get install ${missing[*]}" >&2
    exit 2
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "all dependencies present"
fi

# The HTML report's charting library (Chart.js), pinned by its package-lock.json: CMake embeds
# its minified build into moesim, so nothing is fetched at build or run time. `npm ci` installs
# exactly the locked versions; it runs again only when the lock file is newer than the install.
web="$(dirname "$0")/../sim/report/html/web"
if [ ! -f "$web/node_modules/chart.js/dist/chart.umd.min.js" ] ||
  [ "$web/package-lock.json" -nt "$web/node_modules/.package-lock.json" ]; then
  echo "npm ci in sim/report/html/web"
  npm ci --prefix "$web" --no-audit --no-fund --loglevel=error
fi
