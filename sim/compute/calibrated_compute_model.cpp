#include "sim/compute/calibrated_compute_model.hpp"

namespace moesim::compute {

SimTime CalibratedComputeModel::duration(const ComputeTask& task,
                                         const ComputeContext& context) const {
  const auto estimate = estimates_.estimate(task);
  if (!estimate) return fallback_->duration(task, context);
  const SimTime t = SimTime::from_us(estimate->time_us);
  if (context.concurrent_comm_ops == 0) return t;
  if (compute_bound(task.kind)) return t.scaled(profile_->contention.gemm_slowdown);
  // The profile measures GEMM victims only: a memory-bound kernel takes the fallback's own
  // slowdown for it in this context (its HBM-share prior).
  const SimTime alone = fallback_->duration(task, ComputeContext{context.rank});
  if (alone <= SimTime::zero()) return t;
  return t.scaled(fallback_->duration(task, context).seconds() / alone.seconds());
}

calibration::EstimateSource CalibratedComputeModel::source_of(const ComputeTask& task) const {
  const auto estimate = estimates_.estimate(task);
  return estimate ? estimate->source : calibration::EstimateSource::fallback;
}

}  // namespace moesim::compute
