#!/bin/sh
# expect_exit.sh CODE COMMAND...: runs COMMAND, prints its output, and succeeds only if it exits
# with CODE. If the command got a --trace/--json/-o argument, also reports whether that file was
# left behind (it must not be, on failure).
want=$1
shift
out=$("$@" 2>&1)
got=$?
printf '%s\n' "$out"
if [ "$got" != "$want" ]; then
  echo "exit $got, expected $want"
  exit 1
fi
echo "exit $want as expected"
prev=""
for arg in "$@"; do
  case "$prev" in
    --trace|--json|-o|--csv)
      if [ -e "$arg" ]; then echo "output file $arg was left behind"; exit 1; fi
      echo "no output file $arg"
      ;;
  esac
  prev=$arg
done
exit 0
