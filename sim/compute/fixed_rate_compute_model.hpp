// FixedRateComputeModel: a kernel takes max(flops / peak, bytes / bandwidth) + launch overhead,
// times a fixed slowdown (one for compute-bound kinds, optionally another for memory-bound ones)
// while communication runs beside it. The simplest roofline; the
// reference for hand-computed tests.
#pragma once

#include <optional>

#include "sim/compute/compute_model.hpp"
#include "sim/core/units.hpp"

namespace moesim::compute {

struct FixedRateParams {
  FlopRate flop_rate = FlopRate::from_tflops(100.0);
  Bandwidth memory = Bandwidth::from_gbps(1000.0);
  SimTime launch_overhead = SimTime::zero();
  double overlap_slowdown = 1.0;  ///< rate multiplier while concurrent_comm_ops > 0
  /// The same for memory-bound kinds (not compute_bound()); nullopt: overlap_slowdown.
  std::optional<double> memory_bound_overlap_slowdown;
};

class FixedRateComputeModel final : public ComputeModel {
 public:
  explicit FixedRateComputeModel(FixedRateParams params) : params_(params) {}
  std::string_view name() const override { return "fixed-rate"; }
  SimTime duration(const ComputeTask& task, const ComputeContext& context) const override;
  bool reads_rank() const override { return false; }

 private:
  FixedRateParams params_;
};

}  // namespace moesim::compute
