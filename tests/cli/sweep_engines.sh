#!/usr/bin/env bash
# sweep_engines.sh MOESIM GRID WORKDIR SBATCH_SCRIPT: the README's recipes for running a sweep on
# existing engines give the same CSV, byte for byte, as one process:
#   1. GNU parallel on one machine (shards into one results directory), and case lines piped
#      into `moesim run-case`;
#   2. GNU parallel "across machines" (--sshloginfile, --joblog, --resume-failed, --basefile,
#      --return), with ':' (this machine) as the only login since CI has no hosts; the first pass
#      loses a job, as a dead host would, and --resume-failed reruns only that one;
#   3. the Slurm array script, run as plain bash with the array variables set by hand.
set -euo pipefail
moesim=$1
grid=$2
work=$3
sbatch_script=$4
strategies=deepspeed-moe,tutel,fsmoe
command -v parallel >/dev/null || { echo "FAIL: GNU parallel is not installed (scripts/install-deps.sh)"; exit 1; }
export PARALLEL=--will-cite  # no citation notice in test logs
rm -rf "$work"
mkdir -p "$work"
cd "$work"
cp "$grid" grid.json
"$moesim" sweep grid.json -s $strategies -j 2 -q -o reference.csv >/dev/null 2>&1
same() {
  if cmp reference.csv "$1"; then echo "$2: identical to one process"; else echo "FAIL: $2 differs"; exit 1; fi
}

# 1. One machine: 4 shards, 2 at a time, one thread each.
parallel -j 2 --joblog local.joblog \
  "$moesim" sweep grid.json -s $strategies --shard {}/4 -j 1 -q --results results ::: 1 2 3 4
"$moesim" sweep grid.json -s $strategies --merge results -o local.csv >/dev/null
same local.csv "GNU parallel, one machine"

# 1b. Pure jobs: case lines piped to run-case, 5 lines per job; no grid file involved.
"$moesim" sweep grid.json -s $strategies --emit-cases >cases.jsonl
parallel -j 2 --pipe -N 5 "$moesim" run-case -j 1 -q --results pipe-results <cases.jsonl
"$moesim" sweep grid.json -s $strategies --merge pipe-results -o pipe.csv >/dev/null
same pipe.csv "GNU parallel --pipe into run-case"

# 2. Across machines. A wrapper stands in for moesim on a host that dies during shard 3.
printf ':\n' >hosts.txt
cat >dying-host <<WRAP
#!/bin/sh
case "\$*" in *"--shard 3/4"*) exit 255 ;; esac
exec "$moesim" "\$@"
WRAP
chmod +x dying-host
recipe() {
  seq 1 4 | parallel --sshloginfile hosts.txt --joblog ssh.joblog --resume-failed \
    --basefile grid.json --return ssh-results/{} --cleanup \
    "$1" sweep grid.json -s $strategies --shard {}/4 -j 1 -q --results ssh-results/{}
}
if recipe ./dying-host 2>/dev/null; then echo "FAIL: the lost job was not reported"; exit 1; fi
failed=$(awk -F'\t' 'NR > 1 && $7 != 0' ssh.joblog | wc -l)
echo "first pass: $failed of 4 jobs failed (joblog)"
[ "$failed" -eq 1 ] || { echo "FAIL: expected 1 failed job"; exit 1; }
recipe "$moesim" 2>/dev/null
rerun=$(awk -F'\t' 'NR > 5' ssh.joblog | wc -l)
echo "--resume-failed reran $rerun job(s)"
[ "$rerun" -eq 1 ] || { echo "FAIL: expected only the failed job to rerun"; exit 1; }
"$moesim" sweep grid.json -s $strategies --merge ssh-results/* -o ssh.csv >/dev/null
same ssh.csv "GNU parallel, --sshloginfile"

# 3. Slurm: an array 0-2 (SLURM_ARRAY_TASK_MIN 0) of 3 tasks.
for task in 0 1 2; do
  SLURM_ARRAY_TASK_ID=$task SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_COUNT=3 SLURM_CPUS_PER_TASK=1 \
    MOESIM=$moesim bash "$sbatch_script" grid.json slurm-results -s $strategies -q
done
"$moesim" sweep grid.json -s $strategies --merge slurm-results -o slurm.csv >/dev/null
same slurm.csv "Slurm array script"
if bash "$sbatch_script" grid.json slurm-results 2>slurm.err; then
  echo "FAIL: the Slurm script ran outside an array task"
  exit 1
fi
grep -q "SLURM_ARRAY_TASK_ID: not set" slurm.err && echo "outside an array task: refused, as expected"
