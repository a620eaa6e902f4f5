#include "sim/compute/calibrated_compute_model.hpp"

namespace moesim::compute {

SimTime CalibratedComputeModel::duration(const ComputeTask& task,
                                         const ComputeContext& context) const {
  const auto estimate = profile_->estimate(task.kind, task.dtype, task.shape);
  if (!estimate) return fallback_->duration(task, context);
  const SimTime t = SimTime::from_us(estimate->time_us);
  if (context.concurrent_comm_ops > 0) return t.scaled(profile_->contention.gemm_slowdown);
  return t;
}

calibration::EstimateSource CalibratedComputeModel::source_of(const ComputeTask& task) const {
  const auto estimate = profile_->estimate(task.kind, task.dtype, task.shape);
  return estimate ? estimate->source : calibration::EstimateSource::fallback;
}

}  // namespace moesim::compute
