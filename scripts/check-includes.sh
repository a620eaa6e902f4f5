#!/usr/bin/env bash
# Enforces the module graph of the architecture (sim/README.md): a file in sim/<module>/ may
# include only its own module and the modules listed for it below; nothing under sim/ includes a
# CUDA, NCCL or MPI header; kernels/ includes from sim/ only core, workload and exec; tests and
# bench never include sim/app (they link the job library). Fails listing every include that
# breaks the direction, as file:line: include (what the module may use).
set -euo pipefail
cd "$(dirname "$0")/.."

# Allowed dependencies of each module, lowest first: the closure of the arrows in sim/README.md,
# strict where the code is (exec, report and io read a TaskGraph and never need strategies).
declare -A allowed=(
  [core]=""
  [workload]="core"
  [calibration]="core workload"
  [network]="core workload calibration"
  [compute]="core workload calibration"
  [strategies]="core workload calibration network compute"
  [exec]="core workload calibration network compute"
  [report]="core workload calibration network compute exec"
  [io]="core workload calibration network compute exec report"
  [job]="core workload calibration network compute strategies exec report io"
  [app]="core workload calibration network compute strategies exec report io job"
)
# sim/app's execute and validate still link the hardware runtime in-process (until it is loaded
# separately): the one allowed include of kernels/ from sim/.
app_kernels_ok="kernels/runtime"
kernels_allowed="core workload exec"

status=0
fail() {
  echo "include direction: $1" >&2
  status=1
}

for dir in sim/*/; do
  module=$(basename "$dir")
  if [[ ! -v allowed[$module] ]]; then
    fail "sim/${module}/: a module missing from scripts/check-includes.sh (add its dependencies)"
    continue
  fi
  ok=" ${module} ${allowed[$module]} "
  while IFS=: read -r file line text; do
    target=$(sed -E 's|.*#include "([^"]+)".*|\1|' <<<"$text")
    case "$target" in
      sim/*)
        dep=$(cut -d/ -f2 <<<"$target")
        [[ "$ok" == *" ${dep} "* ]] ||
          fail "${file}:${line}: ${target} (sim/${module} may use:${allowed[$module]:- nothing})"
        ;;
      kernels/*)
        [[ "$module" == app && "$target" == ${app_kernels_ok}/* ]] ||
          fail "${file}:${line}: ${target} (sim/ never includes kernels/)"
        ;;
    esac
  done < <(git ls-files "$dir" | grep -E '\.(cpp|hpp)$' | xargs -r grep -nE '^#include "' || true)
done

# No CUDA, NCCL or MPI header anywhere in sim/: the simulator builds and runs without them.
while IFS= read -r hit; do
  fail "${hit} (sim/ never includes a CUDA, NCCL or MPI header)"
done < <(git ls-files sim | grep -E '\.(cpp|hpp)$' |
  xargs -r grep -nE '^#include [<"](cuda|cublas|nccl|mpi)[^">]*[">]' || true)

# kernels/ may read the task graph and the record, nothing above them.
while IFS=: read -r file line text; do
  target=$(sed -E 's|.*#include "([^"]+)".*|\1|' <<<"$text")
  dep=$(cut -d/ -f2 <<<"$target")
  [[ " ${kernels_allowed} " == *" ${dep} "* ]] ||
    fail "${file}:${line}: ${target} (kernels/ may use from sim/: ${kernels_allowed})"
done < <(git ls-files kernels | grep -E '\.(cpp|hpp|cu|cuh)$' |
  xargs -r grep -nE '^#include "sim/' || true)

# Tests and benchmarks use the job library, never the CLI's (the CLI tests run the binary).
# One exception: the hardware-job glue (sim/app/hardware_job.hpp: graph -> plan -> validate's
# table) is tested with the hardware runtime in tests/kernels/runtime; the fuzz targets of the
# CLI's own parsers (tests/fuzz) read sim/app/cli_checks.hpp.
while IFS=: read -r file line text; do
  [[ "$file" == tests/fuzz/* && "$text" == *'"sim/app/cli_checks.hpp"'* ]] && continue
  [[ "$file" == tests/kernels/runtime/* && "$text" == *'"sim/app/hardware_job.hpp"'* ]] && continue
  fail "${file}:${line}: ${text#*#include } (tests and bench use sim/job, not sim/app)"
done < <(git ls-files tests bench | grep -E '\.(cpp|hpp|cu|cuh)$' |
  xargs -r grep -nE '^#include "sim/app/' || true)

if ((status == 0)); then echo "includes: module graph respected"; fi
exit "$status"
