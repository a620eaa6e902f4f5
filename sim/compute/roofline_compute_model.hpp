// RooflineComputeModel: kernel time from a GPU's datasheet when no calibration covers the kernel.
//
//   time = max(flops / (peak(dtype) * eff), bytes / (hbm * hbm_efficiency)) + launch_overhead
//   (x overlap_slowdown while communication runs on the same GPU)
//
// eff for GEMMs is shape-dependent (NVIDIA GEMM guide):
//   eff = gemm_efficiency * wave_efficiency * m_efficiency
//   - tiles = ceil(m/128) * ceil(n/256) * batch (128x256 CTA tiles, one per SM per wave); when
//     there are fewer tiles than SMs, split-K over up to k/512 slices fills more SMs (cuBLAS);
//     wave_efficiency = work tiles / (waves * SMs) (the last wave runs partly idle);
//   - m_efficiency = m / (m + small_m_half): small-M GEMMs lose to tile padding and poor operand
//     reuse (the measured H100 row M=256, N=K=4096 reaches 412 TF/s, 42% of peak: XLA sm_90 table).
//   - a GEMM of m rows can always run as a larger zero-padded problem, so its time is the lower
//     envelope min over m' >= m (whole 128-row tiles, next 16): monotone in m by construction.
// Other kernels: attention uses attention_efficiency; everything else is memory-bound. Kernels
// in dtypes the GPU has no tensor path for (bf16 on V100) run at the fp16 rate if present, else
// fp32. This is a prior: a calibration profile replaces it where it has measurements.
#pragma once

#include "sim/compute/compute_model.hpp"
#include "sim/compute/gpu_spec.hpp"

namespace moesim::compute {

struct RooflineParams {
  /// Best achievable GEMM fraction of peak: H100 BF16 MAMF 794.5 / 989 TF/s = 0.80 (stas00,
  /// compute/accelerator/README.md; A100 271.2/312 = 0.87).
  double gemm_efficiency = 0.80;
  /// FlashAttention-class fused attention, fraction of peak. Assumption [R]: no measured anchor in
  /// the sources; the calibration profile is expected to replace it.
  double attention_efficiency = 0.50;
  /// Achievable HBM fraction: H100 STREAM copy 2.90 / 3.35 TB/s = 0.87 (Azure ND H100 v5,
  /// ND_H100_v5_results.md).
  double hbm_efficiency = 0.87;
  /// Tokens at which a GEMM reaches half of its large-M efficiency. Fitted by hand to the H100
  /// XLA row M=256,N=K=4096 (412 TF/s, XLA sm_90 table): 0.8 * 0.97 * 256/(256+192) = 0.44.
  double small_m_half = 192.0;
  /// Per-kernel launch cost: "per-kernel launch ~1 us" (XLA GPU cost model constant).
  SimTime launch_overhead = SimTime::from_us(1.0);
  /// Compute slowdown while communication runs on the GPU: average 18.9% (max 40.0%) measured by
  /// Lee et al. 2025, arXiv 2507.03114.
  double overlap_slowdown = 1.189;
};

class RooflineComputeModel final : public ComputeModel {
 public:
  RooflineComputeModel(GpuSpec gpu, RooflineParams params = {})
      : gpu_(std::move(gpu)), params_(params) {}
  std::string_view name() const override { return "roofline"; }
  SimTime duration(const ComputeTask& task, const ComputeContext& context) const override;

  /// Compute-bound seconds of a GEMM task (see the tile-padding cap above).
  double gemm_compute_seconds(const ComputeTask& task) const;
  /// The GEMM efficiency factor (without gemm_efficiency), exposed for tests.
  double gemm_shape_efficiency(const KernelShape& shape) const;
  const GpuSpec& gpu() const { return gpu_; }
  const RooflineParams& params() const { return params_; }

 private:
  FlopRate peak_for(DType dtype) const;
  GpuSpec gpu_;
  RooflineParams params_;
};

}  // namespace moesim::compute
