// GpuSpec: the datasheet numbers of one GPU model (topologies/gpus/<name>.json), the inputs of the
// roofline compute model and of MFU.
// Units: TFLOP/s dense (no sparsity) per element type; HBM GB/s (1e9 B/s); SM count.
// Invariants (checked by the loader): every number > 0; at least one dtype.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "sim/compute/attention_rate_table.hpp"
#include "sim/core/units.hpp"
#include "sim/workload/dtype.hpp"

namespace moesim::compute {

/// Constants of the tile model of GEMM time (roofline_compute_model.hpp) for one GPU, with where
/// they come from; the defaults are the H100 fit (topologies/gpus/h100.json).
struct KernelModelSpec {
  double mma_efficiency = 0.86;           ///< tensor rate per SM on a full 128x256 tile / peak
  double tile_overhead_us = 2.5;          ///< fixed cost per output tile (prologue, epilogue)
  double tile_128x128_efficiency = 0.95;  ///< MMA rate of a 128x128 tile / 128x256
  double tile_64x128_efficiency = 0.70;   ///< MMA rate of a 64x128 tile / 128x256
  double hbm_efficiency = 0.87;           ///< achievable HBM fraction (STREAM-like copy / spec)
  double launch_us = 3.0;                 ///< per-kernel launch and tail
  /// mma_efficiency of FP8 GEMMs where it differs (FP8 tensor cores reach a smaller share of
  /// their doubled peak); nullopt: mma_efficiency.
  std::optional<double> fp8_mma_efficiency;
  /// Rate per SM on a full tile / the fp32 peak for FP32 GEMMs (no TF32) where it differs: they
  /// run on the CUDA cores, another pipe than the tensor cores, so their achieved share of peak
  /// is their own (V100 SGEMM ~92% of 15.7, GA102 ~60% of a peak that counts both FP32
  /// datapaths); nullopt: mma_efficiency.
  std::optional<double> fp32_mma_efficiency;
  /// Measured fused-attention rates (topologies/gpus/attention/<name>.json, named by
  /// kernel_model.attention_rates) for the dtypes they cover; null: the roofline's prior
  /// (RooflineParams::attention_efficiency). Shared: specs are copied per trial by the fits.
  std::shared_ptr<const AttentionRateTable> attention_rates;
  /// The same for unfused attention (every tile computed and masked: attention_kernel =
  /// dense_masked), named by kernel_model.unfused_attention_rates.
  std::shared_ptr<const AttentionRateTable> unfused_attention_rates;
  std::string source;  ///< provenance of every number above
};

struct GpuSpec {
  std::string name;
  std::string description;
  int sm_count = 1;
  std::map<DType, double> peak_tflops;  ///< dense tensor-core peak per dtype
  double hbm_gbps = 1.0;
  std::map<std::string, std::string> sources;
  KernelModelSpec kernel_model;

  /// Peak for `dtype`, or nullopt if the GPU has no such tensor path (e.g. bf16 on V100).
  std::optional<FlopRate> peak(DType dtype) const {
    const auto it = peak_tflops.find(dtype);
    if (it == peak_tflops.end()) return std::nullopt;
    return FlopRate::from_tflops(it->second);
  }
  /// Rate per SM on a full tile / peak for GEMMs in `dtype` (tensor cores; CUDA cores for fp32).
  double mma_efficiency(DType dtype) const {
    if (dtype == DType::fp8 && kernel_model.fp8_mma_efficiency && peak(DType::fp8)) {
      return *kernel_model.fp8_mma_efficiency;
    }
    if (dtype == DType::fp32 && kernel_model.fp32_mma_efficiency && peak(DType::fp32)) {
      return *kernel_model.fp32_mma_efficiency;
    }
    return kernel_model.mma_efficiency;
  }
  Bandwidth hbm() const { return Bandwidth::from_gbps(hbm_gbps); }
};

}  // namespace moesim::compute
