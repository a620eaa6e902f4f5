// GpuSpec: the datasheet numbers of one GPU model (topologies/gpus/<name>.json), the inputs of the
// roofline compute model and of MFU.
// Units: TFLOP/s dense (no sparsity) per element type; HBM GB/s (1e9 B/s); SM count.
// Invariants (checked by the loader): every number > 0; at least one dtype.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "sim/core/units.hpp"
#include "sim/workload/dtype.hpp"

namespace moesim::compute {

struct GpuSpec {
  std::string name;
  std::string description;
  int sm_count = 1;
  std::map<DType, double> peak_tflops;  ///< dense tensor-core peak per dtype
  double hbm_gbps = 1.0;
  std::map<std::string, std::string> sources;

  /// Peak for `dtype`, or nullopt if the GPU has no such tensor path (e.g. bf16 on V100).
  std::optional<FlopRate> peak(DType dtype) const {
    const auto it = peak_tflops.find(dtype);
    if (it == peak_tflops.end()) return std::nullopt;
    return FlopRate::from_tflops(it->second);
  }
  Bandwidth hbm() const { return Bandwidth::from_gbps(hbm_gbps); }
};

}  // namespace moesim::compute
