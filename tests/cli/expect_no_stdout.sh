#!/bin/sh
# expect_no_stdout.sh CODE COMMAND...: runs COMMAND and succeeds only if it exits with CODE and
# writes nothing to stdout (bad input is refused before any output); prints its stderr.
want=$1
shift
err=$("$@" 2>&1 >/dev/null)
got=$?
out=$("$@" 2>/dev/null)
printf '%s\n' "$err"
if [ "$got" != "$want" ]; then
  echo "exit $got, expected $want"
  exit 1
fi
if [ -n "$out" ]; then
  echo "stdout not empty: $out"
  exit 1
fi
echo "exit $want, nothing on stdout"
exit 0
