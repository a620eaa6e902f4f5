#!/bin/sh
# expect_gpu_or_exit_2.sh COMMAND...: for `moesim execute` / `moesim validate`. On a machine with a
# usable GPU the command must succeed; without one (or without the hardware executor library, as
# in a build without CUDA) it must exit 2 saying why, and leave no --trace/--json file behind.
out=$("$@" 2>&1)
got=$?
printf '%s\n' "$out"
if [ "$got" = 0 ]; then echo "ran on a GPU"; exit 0; fi
if [ "$got" != 2 ]; then echo "exit $got, expected 0 (GPU) or 2 (no GPU)"; exit 1; fi
case "$out" in
  *"error: no usable CUDA device ("*|*"error: the hardware executor is not installed: "*) ;;
  *) echo "exit 2 without the no-GPU message"; exit 1 ;;
esac
prev=""
for arg in "$@"; do
  case "$prev" in
    --trace|--json)
      if [ -e "$arg" ]; then echo "output file $arg was left behind"; exit 1; fi ;;
  esac
  prev=$arg
done
echo "no GPU: exit 2 as expected, no output files"
