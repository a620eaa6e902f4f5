#!/usr/bin/env python3
"""Converts published GEMM throughput tables of V100, RTX 2080 Ti and RTX A6000 into moesim
measurement files (schema moesim-measurements-v1). No new numbers: each table below is a
transcription of the published one; the only arithmetic is time_us = 2*m*n*k / (TFLOP/s * 1e12)
* 1e6 (or the published time itself where one is given). Run from this directory:
    python3 convert_published.py
Sources (GitHub issues, read 2026-12; no commit hash exists for issue text):
  zzc0721/torch-performance-test-data: crowd-sourced runs of its test.py (torch.mm on square
    n x n matrices, torch.randn inputs, 6 warm-up then 30 timed back-to-back calls between two
    device synchronisations, host wall clock; TFLOP/s = 2 n^3 * 30 / elapsed). The issue's
    "FP16" block is torch.float16 (cuBLAS, FP32 accumulate), "FP32" is torch.float32 with TF32
    off (its separate "TF32" block turns it on).
    issue 140: Tesla V100-SXM2-16GB, PyTorch 2.7.0+cu128, Python 3.11.14, physical machine, 2026-02-14
    issue 115: NVIDIA GeForce RTX 2080 Ti 22GB, PyTorch 2.8.0+cu128, Python 3.12.3, AutoDL cloud, 2026-01-05
    issue 181: NVIDIA GeForce RTX 2080 Ti, PyTorch 2.7.1+cu128, Python 3.10.20, physical machine, 2026-06-27
  chsasank/device-benchmarks issue 15: NVIDIA RTX A6000, Ubuntu 22.04.5, benchmark.py --dtype
    float32 (torch.matmul of one n x n matrix with itself, one call timed between two device
    synchronisations, mean of 10 trials, host wall clock), 2025-05-09. Rows shorter than 100 us
    are left out by rule (the host timer and the synchronise add ~10-20 us to one call; the first
    size also times cuBLAS initialisation).
"""
import json

ZZC = "zzc0721/torch-performance-test-data"
SIZES = [1024, 2048, 4096, 8192, 10240]

# TFLOP/s per size in SIZES, transcribed from the issue's detailed block.
V100_ISSUE140 = {"fp16": [57.30, 78.23, 95.73, 97.36, 89.37],
                 "fp32": [10.56, 12.71, 13.85, 14.38, 14.51]}
RTX2080TI_ISSUE115 = {"fp16": [52.26, 58.58, 53.41, 55.58, 53.75],
                      "fp32": [9.70, 10.88, 12.71, 13.04, 12.78]}
RTX2080TI_ISSUE181 = {"fp16": [26.01, 56.78, 50.94, 49.61, 47.96],
                      "fp32": [7.93, 3.93, 9.31, 11.52, 10.65]}
# (n, published elapsed seconds of one call, published TFLOP/s), chsasank/device-benchmarks #15.
A6000_ISSUE15_FP32 = [
    (1024, 0.00012173652648925782, 17.640421572152352),
    (1217, 0.00020244121551513672, 17.8074934831166),
    (1448, 0.00031685829162597656, 19.163313520504392),
    (1722, 0.0005172491073608398, 19.743751996222716),
    (2048, 0.0007384061813354492, 23.266150281853328),
    (2435, 0.0013241767883300781, 21.806246722097228),
    (2896, 0.002252936363220215, 21.561389422721064),
    (3444, 0.003435206413269043, 23.782997275628734),
    (4096, 0.005778217315673828, 23.785701707546895),
    (4870, 0.012271976470947266, 18.823586122975108),
    (5792, 0.01635584831237793, 23.759789083021946),
    (6888, 0.02680666446685791, 24.381848735864374),
]


def square_row(n, dtype, tflops, variant):
    return {"kind": "gemm", "m": n, "n": n, "k": n, "batch": 1, "dtype": dtype,
            "time_us": round(2.0 * n ** 3 / (tflops * 1e12) * 1e6, 3),
            "verified": "unchecked", "variant": variant, "tflops": tflops}


def write(name, source, gpu, date, notes, rows):
    doc = {"schema": "moesim-measurements-v1",
           "provenance": {"source": source, "gpu": gpu, "date": date, "notes": notes},
           "kernels": rows, "collectives": [], "contention": []}
    with open(name, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def zzc_rows(table, dtype, sizes=SIZES):
    return [square_row(n, dtype, t, "torch.mm")
            for n, t in zip(SIZES, table[dtype]) if n in sizes]


def zzc_notes(issue, dtype, extra=""):
    return (f"{ZZC} issue {issue} (https://github.com/{ZZC}/issues/{issue}), block {dtype.upper()}: "
            "torch.mm on n x n matrices, 30 back-to-back calls timed on the host between two "
            "synchronisations after 6 warm-up calls; time_us = 2 n^3 / (TFLOP/s * 1e12) * 1e6. "
            "Crowd-sourced, clocks and power limit not stated. Not verified by moesim." + extra)


def main():
    v100 = "Tesla V100-SXM2-16GB"
    # V100 has one source: the fit takes the sizes 1024, 4096, 10240 and holds out 2048, 8192.
    write("v100_torch_mm_fp16_fit.json", f"{ZZC} issue 140 (PyTorch 2.7.0+cu128)", v100,
          "2026-02-14", zzc_notes(140, "fp16", " Fit half: sizes 1024, 4096, 10240."),
          zzc_rows(V100_ISSUE140, "fp16", {1024, 4096, 10240}))
    write("v100_torch_mm_fp16_holdout.json", f"{ZZC} issue 140 (PyTorch 2.7.0+cu128)", v100,
          "2026-02-14", zzc_notes(140, "fp16", " Held-out half: sizes 2048, 8192."),
          zzc_rows(V100_ISSUE140, "fp16", {2048, 8192}))
    write("v100_torch_mm_fp32.json", f"{ZZC} issue 140 (PyTorch 2.7.0+cu128)", v100,
          "2026-02-14", zzc_notes(140, "fp32", " FP32 without TF32 (CUDA cores)."),
          zzc_rows(V100_ISSUE140, "fp32"))
    # fp32_mma_efficiency is fitted on the same halves as the FP16 constants.
    write("v100_torch_mm_fp32_fit.json", f"{ZZC} issue 140 (PyTorch 2.7.0+cu128)", v100,
          "2026-02-14", zzc_notes(140, "fp32", " FP32 without TF32 (CUDA cores). Fit half: "
                                  "sizes 1024, 4096, 10240."),
          zzc_rows(V100_ISSUE140, "fp32", {1024, 4096, 10240}))
    write("v100_torch_mm_fp32_holdout.json", f"{ZZC} issue 140 (PyTorch 2.7.0+cu128)", v100,
          "2026-02-14", zzc_notes(140, "fp32", " FP32 without TF32 (CUDA cores). Held-out "
                                  "half: sizes 2048, 8192."),
          zzc_rows(V100_ISSUE140, "fp32", {2048, 8192}))
    # RTX 2080 Ti: two machines. The fit takes the earlier report (issue 115), issue 181 is held out.
    for issue, table, gpu, date, torch in (
            (115, RTX2080TI_ISSUE115, "NVIDIA GeForce RTX 2080 Ti 22GB", "2026-01-05", "2.8.0+cu128"),
            (181, RTX2080TI_ISSUE181, "NVIDIA GeForce RTX 2080 Ti", "2026-06-27", "2.7.1+cu128")):
        for dtype in ("fp16", "fp32"):
            write(f"rtx2080ti_torch_mm_{dtype}_issue{issue}.json",
                  f"{ZZC} issue {issue} (PyTorch {torch})", gpu, date,
                  zzc_notes(issue, dtype), zzc_rows(table, dtype))
    rows = []
    for n, seconds, tflops in A6000_ISSUE15_FP32:
        assert seconds * 1e6 >= 100.0
        rows.append({"kind": "gemm", "m": n, "n": n, "k": n, "batch": 1, "dtype": "fp32",
                     "time_us": round(seconds * 1e6, 3), "verified": "unchecked",
                     "variant": "torch.matmul", "tflops": round(tflops, 3)})
    a6000_source = "chsasank/device-benchmarks issue 15 (benchmark.py --device cuda --dtype float32)"
    a6000_notes = ("https://github.com/chsasank/device-benchmarks/issues/15: torch.matmul(a, a) on "
                   "n x n float32 (TF32 off, PyTorch's default), one call timed on the host "
                   "between two synchronisations, mean of 10 trials; published elapsed seconds "
                   "and TFLOP/s. Rows under 100 us (n <= 861) left out by rule: host timer and "
                   "synchronise add ~10-20 us per call and the first size includes cuBLAS "
                   "initialisation. PyTorch version not stated. Not verified by moesim.")
    write("rtx-a6000_torch_matmul_fp32.json", a6000_source, "NVIDIA RTX A6000", "2025-05-09",
          a6000_notes, rows)
    # One source: the sizes step by 2^(1/4); the fit takes n = 2^(j/2) (1024, 1448, 2048, ...),
    # the quarter steps between them (1217, 1722, 2435, ...) are held out, so both halves span
    # the whole range.
    fit_sizes = {1024, 1448, 2048, 2896, 4096, 5792}
    write("rtx-a6000_torch_matmul_fp32_fit.json", a6000_source, "NVIDIA RTX A6000", "2025-05-09",
          a6000_notes + " Fit half: n = 2^(j/2) (1024, 1448, 2048, 2896, 4096, 5792).",
          [r for r in rows if r["m"] in fit_sizes])
    write("rtx-a6000_torch_matmul_fp32_holdout.json", a6000_source, "NVIDIA RTX A6000",
          "2025-05-09",
          a6000_notes + " Held-out half: the sizes between (1217, 1722, 2435, 3444, 4870, 6888).",
          [r for r in rows if r["m"] not in fit_sizes])


if __name__ == "__main__":
    main()
