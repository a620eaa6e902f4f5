// CalibratedComputeModel: kernel durations from a calibration profile (measured tables,
// interpolated by shape), falling back to another ComputeModel (a roofline) for any kernel whose
// shape the tables do not cover. A task is priced only from rows of its own traits (its pass,
// and for attention the causal mask and fusion: calibration/kernel_traits.hpp), so a backward
// kernel never takes a forward row's time; a non-GEMM task that does not say its pass always
// takes the fallback.
//
// A measured shape returns its measured time exactly; an interpolated one the table's estimate
// (sim/calibration/kernel_cost_table.hpp). While communication runs on the same GPU
// (concurrent_comm_ops > 0) a compute-bound table time (GEMM, attention) is multiplied by the
// profile's measured GEMM contention slowdown (1 when the profile has no overlap measurement); a
// memory-bound one, which no profile row measures, by the fallback's slowdown for that kernel in
// that context (fallback beside / fallback alone: its HBM-share prior); the fallback applies its
// own to the kernels it prices. Either is a rate: the executor charges it while the
// communication lasts (overlap_contention.hpp).
// Each distinct kernel query is looked up in the profile once (ProfileEstimateMemo), so a run
// with a profile costs about what one without does. The profile and the fallback must outlive
// the model.
#pragma once

#include "sim/calibration/calibration_profile.hpp"
#include "sim/calibration/profile_estimate_memo.hpp"
#include "sim/compute/compute_model.hpp"

namespace moesim::compute {

class CalibratedComputeModel final : public ComputeModel {
 public:
  CalibratedComputeModel(const calibration::CalibrationProfile& profile,
                         const ComputeModel& fallback)
      : profile_(&profile), estimates_(profile), fallback_(&fallback) {}

  std::string_view name() const override { return "calibrated"; }
  SimTime duration(const ComputeTask& task, const ComputeContext& context) const override;
  /// The profile's tables are per kernel, not per GPU; the fallback may read the rank.
  bool reads_rank() const override { return fallback_->reads_rank(); }

  /// Where duration() takes its number from for this task: measured, interpolated or fallback.
  calibration::EstimateSource source_of(const ComputeTask& task) const;

 private:
  const calibration::CalibrationProfile* profile_;
  /// The profile's estimates, each distinct query looked up once (thread-safe).
  calibration::ProfileEstimateMemo estimates_;
  const ComputeModel* fallback_;
};

}  // namespace moesim::compute
