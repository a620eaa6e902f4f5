#!/usr/bin/env python3
"""Runs the hostile-input corpus (cases.tsv) against a moesim binary.

Each case is one line: NAME <tab> EXIT <tab> FRAGMENT <tab> SETUP <tab> COMMAND.
SETUP (or "-") prepares inputs in the case's scratch directory; COMMAND is then run there with
bash, a timeout, and these variables: $MOESIM (the binary), $REPO (the source tree), $DATA
(tests/hostile/data) and the shell function `mut BASE OUT OLD NEW ...` (literal replacement).

A case passes when the command
  - ends within the timeout (else HANG) and is not killed by a signal (else CRASH);
  - exits with EXIT (else WRONG-EXIT);
  - prints FRAGMENT (a literal substring; "-" for none) on stdout or stderr;
  - prints no internal-check, std::terminate or sanitizer report;
  - with a nonzero EXIT: prints an "error: " line and leaves the scratch directory exactly as
    SETUP left it (no new file, no file changed, replaced or removed: nothing clobbered);
  - in every case: leaves no temporary "*.tmp-*" file behind.

  run_corpus.py --moesim BIN [--case NAME] [--timeout S]
  run_corpus.py --list
"""
import argparse
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BAD_OUTPUT = ("internal check failed", "terminate called", "AddressSanitizer", "runtime error:",
              "LeakSanitizer", "Segmentation fault", "Aborted")


def read_cases(path):
    cases = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 5:
                sys.exit(f"{path}:{number}: expected 5 tab-separated columns, got {len(parts)}")
            name, code, fragment, setup, command = parts
            cases.append({"name": name, "exit": int(code), "fragment": fragment,
                          "setup": setup, "command": command, "line": number})
    names = [c["name"] for c in cases]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        sys.exit(f"{path}: duplicate case names: {sorted(dup)}")
    return cases


def snapshot(root):
    """Every entry under root: its kind, and for files a hash of the content."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[p] = ("link", os.readlink(p))
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    out[p] = ("file", hashlib.sha256(f.read()).hexdigest(), st.st_ino)
            elif stat.S_ISFIFO(st.st_mode):
                out[p] = ("fifo", st.st_ino)
            elif stat.S_ISDIR(st.st_mode):
                out[p] = ("dir",)
            else:
                out[p] = ("other", st.st_mode)
    return out


def run_case(case, moesim, timeout):
    scratch = tempfile.mkdtemp(prefix=f"hostile-{case['name']}-")
    env = dict(os.environ, MOESIM=moesim, REPO=REPO, DATA=os.path.join(HERE, "data"),
               MOESIM_MODEL_DIR=os.path.join(REPO, "traces/models"),
               MOESIM_TOPOLOGY_DIR=os.path.join(REPO, "topologies"))
    prelude = f'mut() {{ python3 "{HERE}/mut.py" "$@"; }}\nset -o pipefail\n'
    try:
        if case["setup"] != "-":
            s = subprocess.run(["bash", "-c", prelude + case["setup"]], cwd=scratch, env=env,
                               capture_output=True, text=True, timeout=60)
            if s.returncode != 0:
                return "SETUP", f"setup failed ({s.returncode}): {s.stdout}{s.stderr}"
        before = snapshot(scratch)
        try:
            p = subprocess.run(["bash", "-c", prelude + case["command"]], cwd=scratch, env=env,
                               capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return "HANG", f"no exit after {timeout} s"
        out = (p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace"))
        tail = out[-1500:]
        if p.returncode < 0 or p.returncode >= 128:
            return "CRASH", f"exit {p.returncode}\n{tail}"
        for bad in BAD_OUTPUT:
            if bad in out:
                return "CRASH", f"printed '{bad}'\n{tail}"
        if p.returncode != case["exit"]:
            return "WRONG-EXIT", f"exit {p.returncode}, expected {case['exit']}\n{tail}"
        if case["fragment"] != "-" and case["fragment"] not in out:
            return "MESSAGE", f"output lacks '{case['fragment']}'\n{tail}"
        after = snapshot(scratch)
        leftovers = [k for k in after if ".tmp-" in os.path.basename(k)]
        if leftovers:
            return "CLOBBER", f"temporary files left behind: {leftovers}"
        if case["exit"] != 0:
            if "error: " not in out:
                return "MESSAGE", f"no 'error: ' line\n{tail}"
            changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
            if changed:
                return "CLOBBER", f"changed on failure: {[os.path.relpath(k, scratch) for k in changed]}"
        return "PASS", ""
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--moesim", help="the binary (required unless --list)")
    ap.add_argument("--cases", default=os.path.join(HERE, "cases.tsv"))
    ap.add_argument("--case", help="run only this case")
    ap.add_argument("--list", action="store_true", help="print the case names")
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args()
    cases = read_cases(args.cases)
    if args.list:
        print("\n".join(c["name"] for c in cases))
        return 0
    if not args.moesim:
        ap.error("--moesim is required")
    if args.case:
        cases = [c for c in cases if c["name"] == args.case]
        if not cases:
            sys.exit(f"no case named {args.case}")
    moesim = os.path.abspath(args.moesim)
    counts = {}
    for c in cases:
        verdict, detail = run_case(c, moesim, args.timeout)
        counts[verdict] = counts.get(verdict, 0) + 1
        if verdict != "PASS" or args.case:
            print(f"{verdict:10} {c['name']} (cases.tsv:{c['line']})")
            if detail:
                print("    " + detail.replace("\n", "\n    "))
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print(f"{len(cases)} cases: {summary}")
    return 0 if counts.get("PASS", 0) == len(cases) else 1


if __name__ == "__main__":
    sys.exit(main())
