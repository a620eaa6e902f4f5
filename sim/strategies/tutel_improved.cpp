// tutel-improved: FSMoE's "Tutel-Improved" baseline (FSMoE Sec. 6; PipeMoE): Tutel's
// capacity-chunked A2A/expert pipeline with PipeMoE's optimal degree (one integer r in 1..8 for
// forward and backward, minimising max(compute-bound, comm-bound)), all communication of the MoE
// block on one "comm.moe" stream, and the gradient all-reduce overlapped with the non-MoE
// backward only: what is ready after each MoE block's backward is all-reduced on that stream
// while the dense backward (kernels and TP collectives on "comm") runs, ahead of the next MoE
// block's all-to-all; the rest after the backward. Same token layout as fsmoe (MP paused inside the
// MoE block) so a comparison isolates the schedule. Schedule code shared with fsmoe
// (fsmoe_schedule.hpp).
#include "sim/strategies/fsmoe_schedule.hpp"
#include "sim/strategies/registry.hpp"

namespace moesim::strategies {
namespace {

class TutelImproved final : public Strategy {
 public:
  std::string_view name() const override { return "tutel-improved"; }
  std::string_view summary() const override {
    return "Tutel-Improved: Tutel pipeline with PipeMoE's optimal degree, gradient all-reduce "
           "overlapped with non-MoE backward";
  }
  BuildResult build_iteration(const TrainingJob& job, const CostModels& costs) const override {
    return build_fsmoe_iteration(job, costs, FsmoeVariant::tutel_improved);
  }
};

}  // namespace

std::unique_ptr<Strategy> make_tutel_improved() { return std::make_unique<TutelImproved>(); }

}  // namespace moesim::strategies
