#!/usr/bin/env python3
"""Converts published H100 measurements into moesim's measurement formats (no new numbers).

1. xla_sm90_table.txt (OpenXLA's measured cuBLAS matmul table, key sm_90, bf16 in/out) ->
   xla_matmul_sm90_bf16.json, one "gemm" kernel row per (b, m, n, k):
   time_us = 2*b*m*n*k / flops_per_second * 1e6 (XLA stores FLOP/s of that product).
2. The Azure ND H100 v5 8-GPU all_reduce busbw table (Azure/AI-benchmarking-guide @ 8fd0c6e1,
   NCCL 2.18.5, in-place, NCCL_ALGO=NVLS, Azure_Results/ND_H100_v5_results.md) -> nccl-tests text
   azure_ndh100v5_all_reduce_perf.txt. Only busbw was published: algbw = busbw / (2(n-1)/n) and
   time = size / algbw, nccl-tests' own formulas; the out-of-place columns are N/A.
Run from this directory: python3 convert_published.py
"""
import json

XLA_NOTES = (
    "OpenXLA xla/service/gpu/model/matmul_interpolator_data.h, kDefaultMatmulPTable key sm_90, "
    "flops key bf16xbf16->bf16 (2025 revision listing sm_90 only; read from the ROCm/xla mirror "
    "of openxla/xla). cuBLAS GEMMs measured by XLA's matmul_perf_table_gen; XLA stores FLOP/s, "
    "converted here as time_us = 2*b*m*n*k/flops*1e6. Not verified by moesim (published data).")


def convert_xla():
    rows = []
    for line in open("xla_sm90_table.txt"):
        if not line.strip() or line.startswith("#"):
            continue
        b, m, n, k, flops = (int(x) for x in line.split())
        rows.append({"kind": "gemm", "m": m, "n": n, "k": k, "batch": b, "dtype": "bf16",
                     "time_us": round(2.0 * b * m * n * k / flops * 1e6, 6),
                     "verified": "unchecked", "variant": "xla-cublas"})
    rows.sort(key=lambda r: (r["batch"], r["k"], r["n"], r["m"]))
    doc = {
        "schema": "moesim-measurements-v1",
        "provenance": {"source": "openxla/xla matmul_interpolator_data.h (sm_90)",
                       "gpu": "NVIDIA H100 80GB HBM3 (XLA key sm_90)", "sm_count": 132,
                       "driver": "unknown", "cuda": "unknown", "cublas": "unknown",
                       "nccl": "unknown", "git_sha": "unknown", "date": "2025",
                       "notes": XLA_NOTES},
        "kernels": rows, "collectives": [], "contention": []}
    with open("xla_matmul_sm90_bf16.json", "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


# (size bytes, busbw GB/s) for ND H100 v5, Azure/AI-benchmarking-guide Azure_Results/ND_H100_v5_results.md.
AZURE_H100 = [(1 << 10, 0.07), (4 << 10, 0.27), (16 << 10, 0.95), (64 << 10, 2.72),
              (256 << 10, 10.86), (1 << 20, 43.70), (4 << 20, 128.73), (16 << 20, 234.45),
              (64 << 20, 361.78), (256 << 20, 423.38), (1 << 30, 466.35), (8 << 30, 478.87)]


def convert_azure():
    ranks = 8
    factor = 2.0 * (ranks - 1) / ranks
    out = [
        "# moesim-provenance: source=Azure/AI-benchmarking-guide@8fd0c6e1 ND_H100_v5_results.md",
        "# moesim-provenance: gpu=NVIDIA H100 80GB HBM3 (Azure ND H100 v5, 8 GPUs, NVSwitch)",
        "# moesim-provenance: nccl=2.18.5",
        "# moesim-provenance: date=unknown",
        "# moesim-provenance: notes=published busbw only (in-place, NCCL_ALGO=NVLS, -g 8); "
        "time and algbw derived with nccl-tests formulas; out-of-place not published",
        "# Collective test starting: all_reduce_perf",
        "# nThread 1 nGpus 8 minBytes 1024 maxBytes 8589934592 step: 2(factor)",
        "#",
        "# Using devices",
    ]
    for r in range(ranks):
        out.append(f"#  Rank {r:2d} Group  0 Pid      0 on ndh100v5 device {r:2d} [0000:00:00] "
                   "NVIDIA H100 80GB HBM3")
    out += ["#",
            "#                                                              out-of-place"
            "                       in-place",
            "#       size         count      type   redop    root     time   algbw   busbw #wrong"
            "     time   algbw   busbw #wrong",
            "#        (B)    (elements)                               (us)  (GB/s)  (GB/s)"
            "            (us)  (GB/s)  (GB/s)"]
    for size, busbw in AZURE_H100:
        algbw = busbw / factor
        time_us = size / (algbw * 1e3)
        out.append(f"{size:12d}  {size // 4:12d}     float     sum      -1      N/A     N/A     N/A"
                   f"    N/A  {time_us:7.1f}  {algbw:6.2f}  {busbw:6.2f}    N/A")
    out += ["# Out of bounds values : 0 OK", "#"]
    with open("azure_ndh100v5_all_reduce_perf.txt", "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    convert_xla()
    convert_azure()
