#!/usr/bin/env python3
"""Planner audit: each planner's span estimates (its typed decisions) against the simulated span
of the same work, on its claims' setups (traces/reference/claims/<paper>-*.json).

Usage: scripts/planner-audit.py BUILD_DIR [--out table.md]
Runs `moesim run --json --trace` per (strategy, job), reads rank 0's spans from the trace, and
prints one row per estimate: planner, job, estimate, simulated, error (estimate / simulated - 1).
What each estimate is held against:
  tutel.core_estimate.<pass>, fsmoe.forward_estimate, tutel-improved.forward_estimate: the first
    MoE layer's core (first dispatch to last combine: ep.*, esp.*, expert*) in that pass, rank 0.
  lancet.range.L<n>: the forward span of layers n .. n + region_layers - 1 on rank 0 (the
    claims' planner_error metric), and from the region's common start (the latest first start
    over ranks) to the last rank's end.
  parm.estimate.S<chosen>: the first MoE layer's block, forward + backward, on rank 0: the
    durations of the tasks Parm's model prices (parm.*/ep.*/esp.*/mp.* collectives, experts and
    the S2 reductions), which run in series.
  flexmoe.estimate.a2a + .compute: the first MoE layer's exchanges and experts, fwd + bwd, rank
    with the busiest experts (the planner's T_compute is the busiest GPU's), summed durations.
"""
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
MOESIM = os.path.join(BUILD, "sim/app/moesim")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLAIMS = os.path.join(ROOT, "traces/reference/claims")


def claim_jobs(claim_id):
    with open(os.path.join(CLAIMS, claim_id + ".json")) as f:
        setup = json.load(f)["setup"]
    base = setup.get("base", {})
    for name, job in setup.get("jobs", {}).items():
        merged = dict(base)
        merged.update({k: v for k, v in job.items() if k != "set"})
        merged["set"] = dict(base.get("set", {}))
        merged["set"].update(job.get("set", {}))
        yield claim_id + "/" + name, merged


def run_job(job, strategy, tmp):
    cmd = [MOESIM, "run", "-m", job["model"], "-t", job["topology"], "-p", job["parallel"],
           "-s", strategy, "--json", os.path.join(tmp, "s.json"),
           "--trace", os.path.join(tmp, "t.json")]
    if "nodes" in job:
        cmd += ["--nodes", str(job["nodes"])]
    if "gpu" in job:
        cmd += ["--gpu", job["gpu"]]
    if "routing" in job:
        cmd += ["--routing", job["routing"]]
    if "seed" in job:
        cmd += ["--seed", str(job["seed"])]
    if job.get("set"):
        cmd += ["--set", ",".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}"
                                  for k, v in job["set"].items())]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(tmp, "s.json")) as f:
        summary = json.load(f)
    with open(os.path.join(tmp, "t.json")) as f:
        events = [e for e in json.load(f)["traceEvents"] if e.get("ph") == "X"]
    return summary["decisions"], events


def is_core(name):
    return name.startswith(("ep.", "esp.", "expert", "parm.", "mp."))


def first_moe_layer(events):
    return min(e["args"]["layer"] for e in events if e["name"].startswith(("ep.dispatch", "parm.dispatch")))


def span(events, pred):
    sel = [e for e in events if pred(e)]
    if not sel:
        return 0.0
    return max(e["ts"] + e["dur"] for e in sel) - min(e["ts"] for e in sel)


def core_span(events, layer, phase, rank=0):
    return span(events, lambda e: e["pid"] == rank and e["args"].get("layer") == layer
                and e["args"].get("phase") == phase and is_core(e["name"]))


def summed(events, layer, rank, pred):
    return sum(e["dur"] for e in events if e["pid"] == rank and e["args"].get("layer") == layer
               and e["args"].get("phase") in ("forward", "backward") and pred(e["name"]))


def rows_for(full_name, job_name, decisions, events):
    rows = []
    strategy = full_name.split(":")[0]
    num = lambda k: decisions[k]["value"]
    moe = first_moe_layer(events)
    if strategy == "tutel":
        for p in ("forward", "backward"):
            rows.append((strategy, job_name, f"core {p} L{moe}", num(f"tutel.core_estimate.{p}"),
                         core_span(events, moe, p)))
    if strategy in ("fsmoe", "fsmoe-no-iio", "tutel-improved"):
        key = "tutel-improved" if strategy == "tutel-improved" else "fsmoe"
        rows.append((strategy, job_name, f"core forward L{moe}", num(f"{key}.forward_estimate"),
                     core_span(events, moe, "forward")))
    if strategy == "lancet":
        for k in decisions:
            if not k.startswith("lancet.range.L"):
                continue
            first = int(k[len("lancet.range.L"):])
            count = int(num(f"lancet.region_layers.L{first}"))
            layers = set(range(first, first + count))
            fwd = lambda e: e["args"].get("layer") in layers and e["args"].get("phase") == "forward"
            rank0 = span(events, lambda e: e["pid"] == 0 and fwd(e))
            starts, ends = defaultdict(lambda: 1e300), defaultdict(float)
            for e in events:
                if fwd(e):
                    starts[e["pid"]] = min(starts[e["pid"]], e["ts"])
                    ends[e["pid"]] = max(ends[e["pid"]], e["ts"] + e["dur"])
            common = max(ends.values()) - max(starts.values())
            rows.append((strategy, job_name, f"region L{first}-L{first + count - 1} rank 0",
                         num(k), rank0))
            rows.append((strategy, job_name, f"region L{first}-L{first + count - 1} common start",
                         num(k), common))
    if strategy.startswith("parm"):
        chosen = decisions["parm.schedule"]["value"]
        priced = lambda n: is_core(n) or n.endswith(".reduce")
        rows.append((strategy, job_name, f"{chosen} fwd+bwd L{moe}",
                     num(f"parm.estimate.{chosen}"), summed(events, moe, 0, priced)))
    if strategy == "flexmoe":
        ranks = {e["pid"] for e in events}
        busiest = max(ranks, key=lambda r: summed(events, moe, r, lambda n: n.startswith("expert")))
        rows.append((strategy, job_name, f"T_compute L{moe} rank {busiest}",
                     num("flexmoe.estimate.compute"),
                     summed(events, moe, busiest, lambda n: n.startswith("expert"))))
        rows.append((strategy, job_name, f"T_A2A L{moe} rank {busiest}",
                     num("flexmoe.estimate.a2a"),
                     summed(events, moe, busiest, lambda n: n.startswith("ep."))))
    return [(full_name,) + r[1:] for r in rows]


SUITE = [
    ("lancet-a100", ["lancet", "tutel"]),
    ("lancet-v100", ["lancet"]),
    # tutel:grad_sync=after isolates what the DDP buckets beside the backward cost.
    ("fsmoe-real-models",
     ["fsmoe", "fsmoe-no-iio", "tutel-improved", "tutel", "tutel:grad_sync=after"]),
    ("parm-real-models", ["parm", "parm-s1", "parm-s2"]),
    ("flexmoe-speedup", ["flexmoe"]),
]


def main():
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for claim, strategies in SUITE:
            for job_name, job in claim_jobs(claim):
                for s in strategies:
                    decisions, events = run_job(job, s, tmp)
                    out += rows_for(s, job_name, decisions, events)
    print("| planner | job | estimate of | estimate (us) | simulated (us) | error |")
    print("|---|---|---|---|---|---|")
    for s, j, what, est, sim in out:
        err = est / sim - 1 if sim > 0 else float("nan")
        print(f"| {s} | {j} | {what} | {est:.1f} | {sim:.1f} | {err:+.4f} |")


if __name__ == "__main__":
    main()
