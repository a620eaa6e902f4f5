#include "sim/compute/fixed_rate_compute_model.hpp"

#include <algorithm>

namespace moesim::compute {

SimTime FixedRateComputeModel::duration(const ComputeTask& task,
                                        const ComputeContext& context) const {
  const double compute_s = task.flops.count / params_.flop_rate.flops_per_s;
  const double memory_s = task.bytes.as_double() / params_.memory.bytes_per_s;
  SimTime t = SimTime::from_seconds(std::max(compute_s, memory_s)) + params_.launch_overhead;
  if (context.concurrent_comm_ops > 0) {
    t = t.scaled(compute_bound(task.kind)
                     ? params_.overlap_slowdown
                     : params_.memory_bound_overlap_slowdown.value_or(params_.overlap_slowdown));
  }
  return t;
}

}  // namespace moesim::compute
