// CalibrationCoverage: how much of a graph's kernel time a calibration profile prices, and what
// the fallback prices instead, by kernel kind and traits. A calibrated run prints it: a profile
// that covers GEMMs only, or only forward kernels, is visible as such rather than taken for a
// calibrated simulation.
//
// Times are each kernel's duration alone (no communication beside it), as CalibratedComputeModel
// charges it, summed over every compute task of the graph.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sim/compute/calibrated_compute_model.hpp"
#include "sim/workload/task_graph.hpp"

namespace moesim::compute {

/// Kernels of one kind and traits that the profile does not price.
struct UncoveredKernels {
  KernelKind kind = KernelKind::other;
  /// Nothing when the tasks do not say their pass (no table may price them).
  std::optional<calibration::KernelTraits> traits;
  std::int64_t tasks = 0;
  SimTime time;
  /// "attention backward causal fused", "layernorm (pass unset)", "gemm".
  std::string label() const;
};

struct CalibrationCoverage {
  /// Indexed by calibration::EstimateSource (measured, interpolated, fallback).
  std::array<std::int64_t, 3> tasks{};
  std::array<SimTime, 3> time{};
  /// Fallback kernels by (kind, traits), most time first.
  std::vector<UncoveredKernels> uncovered;

  SimTime total_time() const { return time[0] + time[1] + time[2]; }
  std::int64_t total_tasks() const { return tasks[0] + tasks[1] + tasks[2]; }
  /// Share of the kernel time priced from `source`, in [0, 1] (0 for an empty graph).
  double time_share(calibration::EstimateSource source) const;
  /// Share priced from the profile (measured or interpolated).
  double profile_share() const {
    return time_share(calibration::EstimateSource::measured) +
           time_share(calibration::EstimateSource::interpolated);
  }
  /// Share of the kernel time that `group` (one of `uncovered`) takes.
  double share_of(const UncoveredKernels& group) const;
};

CalibrationCoverage calibration_coverage(const TaskGraph& graph,
                                         const CalibratedComputeModel& model);

}  // namespace moesim::compute
