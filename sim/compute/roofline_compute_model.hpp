// RooflineComputeModel: kernel time from a GPU's datasheet and its tile-model constants
// (GpuSpec::kernel_model, topologies/gpus/<gpu>.json) when no calibration covers the kernel.
//
// GEMMs (C[m x n] = A[m x k] B[k x n], `batch` products) run as waves of output tiles, one CTA
// per SM, the way cuBLAS kernels do (NVIDIA "Matrix Multiplication Background"
// guide, tile and wave quantization):
//   tiles = ceil(m / BM) * ceil(n / BN) * batch * split_k
//   tile  = tile_overhead + 2 BM BN (k / split_k) / (peak / SMs * mma_efficiency * tile_eff)
//   compute = ceil(tiles / SMs) * tile   (+ split-K partials: 4 m n batch split_k bytes at HBM)
// minimised over BM x BN in {128x256, 128x128, 64x128} and split_k in {1, 2, 4, 8} (k / split_k
// >= 256): the heuristic picks the fastest configuration, so time never decreases with m or n.
// The tile overhead (prologue and epilogue of a tile) is what makes short-K GEMMs slow; the
// wave count is what makes a few-tile GEMM waste SMs.
//   time = max(compute, bytes / (hbm * hbm_efficiency)) + launch
// Attention: at the measured rate of the GPU's fused kernel for the pass, head dim, causal mask
// and sequence length where the GPU file names a table (kernel_model.attention_rates,
// attention_rate_table.hpp: H100, H200, H800 from FlashAttention-3's cuDNN measurements), else
// flops at attention_efficiency of the tensor peak [R]. Every other kernel (softmax,
// layernorm, elementwise, routing, permute, optimizer, copies) is memory-bound: its flops run on
// the CUDA cores (the fp32 rate, not the tensor peak) and its bytes at the achievable HBM rate.
// Kernels in dtypes the GPU has no tensor path for (bf16 on V100, fp8 before Hopper) run at the
// fp16 rate if present, else fp32. FP8 GEMMs run at the FP8 peak with their own
// fp8_mma_efficiency where the GPU file gives one (H100: fitted on cuBLASLt FP8 rows). FP32 GEMMs
// (no TF32) run on the CUDA cores at the fp32 peak with fp32_mma_efficiency where given (fitted
// on published FP32 torch runs), through the same tile model.
// Communication that holds a fixed number of SMs (DeepEP-style, ComputeContext::held_sms) leaves
// a GEMM's waves fewer SMs (the tile model's wave count on sm_count - held; wave quantization
// included) and other kernels' compute sm_count / (sm_count - held) slower; bytes still move at
// the HBM rate. Only NCCL's kernels beside it (more communication than the SM-holding ones) add
// the generic slowdown: overlap_slowdown for GEMMs and attention (measured), and
// memory_bound_overlap_slowdown for the memory-bound rest (derived from the collective's share of
// HBM bandwidth). Each is the rate while the communication lasts; the executor charges it over
// the part of the kernel it overlaps. This is a prior: a calibration profile replaces it where it
// has measurements.
#pragma once

#include "sim/compute/compute_model.hpp"
#include "sim/compute/gpu_spec.hpp"

namespace moesim::compute {

struct RooflineParams {
  /// FlashAttention-class fused attention, fraction of peak, on GPUs without a measured table.
  /// Assumption [R]: no measured anchor for them in the sources (H100's cuDNN kernel, measured,
  /// runs at about 0.2-0.6 of its peak by pass, mask, head dim and sequence); the calibration
  /// profile is expected to replace it.
  double attention_efficiency = 0.50;
  /// Compute-bound kernels (GEMM, attention) while communication runs on the GPU: average 18.9%
  /// (max 40.0%) slowdown measured by Lee et al. 2025, arXiv 2507.03114 (single 4-GPU systems:
  /// H100, A100, MI250, MI210).
  double overlap_slowdown = 1.189;
  /// Memory-bound kernels (everything else) beside the same collectives: no measurement in the
  /// sources, derived from physics [assumption]. An NVLink collective at NCCL's effective 370 GB/s
  /// per direction (sjeaugey, NVIDIA/nccl-tests#212) reads its send data from HBM and writes what
  /// it receives to HBM: 2 x 370 = 740 GB/s of HBM traffic, against the H100's achievable
  /// 3.35 TB/s x 0.87 = 2.91 TB/s (hbm_efficiency = STREAM copy 2.90 / 3.35, topologies/gpus/
  /// h100.json, Azure/AI-benchmarking-guide ND_H100_v5_results.md): a share
  /// s = 0.254, so an HBM-bound kernel on the rest runs 1 / (1 - s) = 1.34x slower. The setting is
  /// that of Lee et al.'s GEMM figure (single-node collectives); an inter-node collective
  /// (about 50 GB/s per GPU) would take about 3% of HBM instead: this is the upper end.
  double memory_bound_overlap_slowdown = 1.34;
};

class RooflineComputeModel final : public ComputeModel {
 public:
  RooflineComputeModel(GpuSpec gpu, RooflineParams params = {})
      : gpu_(std::move(gpu)), params_(params) {}
  std::string_view name() const override { return "roofline"; }
  SimTime duration(const ComputeTask& task, const ComputeContext& context) const override;
  bool reads_rank() const override { return false; }

  /// Compute-bound seconds of a GEMM task (the tile model above, without launch and HBM bound),
  /// on the SMs left when communication holds `held_sms`.
  double gemm_compute_seconds(const ComputeTask& task, int held_sms = 0) const;
  /// Achieved fraction of the tensor peak of a GEMM of `shape` (compute part only).
  double gemm_shape_efficiency(const KernelShape& shape) const;
  const GpuSpec& gpu() const { return gpu_; }
  const RooflineParams& params() const { return params_; }

 private:
  FlopRate peak_for(DType dtype) const;
  double vector_flops_per_s() const;
  double tile_model_seconds(const KernelShape& shape, double peak_flops_per_s, DType dtype,
                            int held_sms) const;
  /// Compute-bound seconds of an attention task: at the GPU's measured rate for its pass, head
  /// dim, mask and sequence where the GPU file names a table covering its dtype, else at
  /// attention_efficiency of the tensor peak.
  double attention_compute_seconds(const ComputeTask& task) const;
  /// all SMs / the SMs left when communication holds `held_sms`.
  double sm_share(int held_sms) const;
  GpuSpec gpu_;
  RooflineParams params_;
};

}  // namespace moesim::compute
