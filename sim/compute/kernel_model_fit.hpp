// fit_kernel_model: the tile-model constants of one GPU (KernelModelSpec, gpu_spec.hpp) fitted to
// measured GEMM times, as `moesim calibrate --gpu NAME --gpu-out FILE` does: a grid search that
// minimises the mean relative time error of RooflineComputeModel over the GEMM rows. The HBM
// fraction is kept from the spec (GEMM tables rarely bind on memory; a STREAM-like measurement
// sets it). Deterministic: the grid is fixed and ties keep the first point.
#pragma once

#include <span>

#include "sim/calibration/measurement_set.hpp"
#include "sim/compute/gpu_spec.hpp"

namespace moesim::compute {

struct KernelModelFit {
  KernelModelSpec spec;
  int rows = 0;       ///< GEMM rows fitted
  double mape = 0.0;  ///< mean |model - measured| / measured over them
  double max_error = 0.0;
};

/// Fits `gpu`'s tile constants to the GEMM rows of `rows` (other kinds are ignored). Throws
/// InputError when there is no GEMM row.
KernelModelFit fit_kernel_model(const GpuSpec& gpu,
                                std::span<const calibration::KernelMeasurement> rows);

/// Mean and max relative time error of `gpu`'s model over the GEMM rows.
KernelModelFit evaluate_kernel_model(const GpuSpec& gpu,
                                     std::span<const calibration::KernelMeasurement> rows);

}  // namespace moesim::compute
