// fit_kernel_model: the tile-model constants of one GPU (KernelModelSpec, gpu_spec.hpp) fitted to
// measured GEMM times, as `moesim calibrate --gpu NAME --gpu-out FILE` does: a grid search that
// minimises the mean relative time error of RooflineComputeModel over the GEMM rows. The HBM
// fraction is kept from the spec (GEMM tables rarely bind on memory; a STREAM-like measurement
// sets it). Deterministic: the grid is fixed and ties keep the first point. mma_efficiency goes
// up to 1.0: GeForce cards boost above the clock their datasheet peak is quoted at (RTX 2080 Ti:
// 58.6 TFLOP/s measured FP16 against 56.9 at 1635 MHz, traces/reference/gemm/).
// KernelModelFitScope::mma_efficiency fits the tensor rate alone and keeps the other constants:
// for tables of large square GEMMs, which always run the widest tile and so cannot tell the tile
// efficiencies, the tile overhead and the launch apart. KernelModelFitScope::fp32_mma_efficiency
// fits the CUDA-core rate of FP32 GEMMs alone, on the FP32 rows only (the other rows measure
// another pipe), keeping the rest and appending its provenance to the spec's source.
#pragma once

#include <span>

#include "sim/calibration/measurement_set.hpp"
#include "sim/compute/gpu_spec.hpp"

namespace moesim::compute {

enum class KernelModelFitScope {
  all,                  ///< mma_efficiency, tile_overhead_us, both tile efficiencies, launch_us
  mma_efficiency,       ///< mma_efficiency only; the rest kept from the spec
  fp32_mma_efficiency,  ///< fp32_mma_efficiency only, over the fp32 rows; the rest kept
};

struct KernelModelFit {
  KernelModelSpec spec;
  int rows = 0;       ///< GEMM rows fitted
  double mape = 0.0;  ///< mean |model - measured| / measured over them
  double max_error = 0.0;
};

/// Fits `gpu`'s tile constants to the GEMM rows of `rows` in `scope` (other kinds, and for
/// fp32_mma_efficiency other dtypes, are ignored). Throws InputError when there is no such row,
/// or when the scope is fp32_mma_efficiency and the GPU has no fp32 peak.
KernelModelFit fit_kernel_model(const GpuSpec& gpu,
                                std::span<const calibration::KernelMeasurement> rows,
                                KernelModelFitScope scope = KernelModelFitScope::all);

/// Mean and max relative time error of `gpu`'s model over the GEMM rows in `scope`.
KernelModelFit evaluate_kernel_model(const GpuSpec& gpu,
                                     std::span<const calibration::KernelMeasurement> rows,
                                     KernelModelFitScope scope = KernelModelFitScope::all);

}  // namespace moesim::compute
