// FsmoeSchedule: the planner and emission state shared by `fsmoe`, `fsmoe-no-iio` and
// `tutel-improved` (FSMoE Sec. 3-5; PipeMoE). All three run FSMoE's DP+MP+EP+ESP block with MP
// paused inside the MoE layer (each MP rank routes 1/tp of the slots, an MP all-gather restores the
// tokens after the combine) and the capacity-chunked pipeline
//   per chunk i: dispatch A2A_i -> ESP all-gather_i -> experts_i -> ESP reduce-scatter_i ->
//   combine A2A_i,
// issued as in FSMoE's MoELayer.forward: all dispatches and all-gathers first, then per chunk
// experts, reduce-scatter, combine. They differ in
//  - streams: fsmoe puts the A2As on "comm.inter" and the ESP collectives on "comm.intra"
//    (three-stream IIO); fsmoe-no-iio and tutel-improved put both on one "comm.moe" stream; the
//    gradient all-reduces go with the A2As, the TP collectives stay on "comm";
//  - degrees: fsmoe and fsmoe-no-iio use Algorithm 1 separately for forward and backward (per
//    layer in backward, with the layer's gradient all-reduce time); tutel-improved uses
//    PipeMoE's degree (6.3): one integer r in 1..8 for both directions minimising
//    max(compute-bound, comm-bound) forward + backward;
//  - gradients: fsmoe(-no-iio) partitions the data-parallel gradients (fsmoe_planner.hpp): a
//    share goes on the inter-node stream right after the last chunk's dispatch of a MoE
//    backward (Fig. 3d), a share right after the MoE block (overlapping the dense backward),
//    the remainder in the last such dense slot, and only the gradients produced after it (the
//    first layer's attention, ...) after the backward; tutel-improved all-reduces what is ready
//    after each MoE block (overlapping only the non-MoE backward) and the rest at the end.
// Cost fits, per MoE layer (layers with the same token plan share one): per-chunk alpha-beta
// lines for A2A, all-gather, reduce-scatter and the expert FFN are fitted from CostModels
// estimates at the full size and 1/2, 1/4, 1/8 of it (FSMoE fits its profiled modules the same
// way); each collective sample is priced with every group of the stage running it at once, as
// the iteration runs them, and the expert line is the catalogue's experts (layer_ops.hpp). The
// gradient all-reduce line from 1/4..4x one layer's gradients (all DP groups at once); the dense
// backward the planner overlaps includes its TP all-reduces. Expert-DP gradients (edp > 1) are
// all-reduced after the backward.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "sim/strategies/deepspeed_moe_block.hpp"
#include "sim/strategies/fsmoe_planner.hpp"
#include "sim/strategies/iteration_pieces.hpp"

namespace moesim::strategies {

enum class FsmoeVariant : std::uint8_t { fsmoe, fsmoe_no_iio, tutel_improved };

/// The whole fsmoe / fsmoe-no-iio / tutel-improved iteration: plan, compose, emit.
BuildResult build_fsmoe_iteration(const TrainingJob& job, const CostModels& costs,
                                  FsmoeVariant variant);

/// FSMoE's planner (degrees, gradient partition) and the emission it plans, driven through the
/// pieces below: the chunked core, the MoE block (the DeepSpeed order around the core, then the
/// block's share of the gradient all-reduce) and the gradient sync (what is left, after the
/// backward, behind the all-reduces issued during it).
class FsmoeSchedule final {
 public:
  FsmoeSchedule(EmissionContext& ctx, FsmoeVariant variant);
  FsmoeSchedule(const FsmoeSchedule&) = delete;
  FsmoeSchedule& operator=(const FsmoeSchedule&) = delete;

  /// Fitted per-chunk costs of a MoE layer's forward (layers with the same token plan share
  /// one fit).
  const fsmoe::PipelineCosts& layer_costs(std::int64_t moe_index);
  const fsmoe::PipelineCosts& forward_costs() { return layer_costs(0); }
  /// Forward degree of the MoE layer with `moe_index`.
  int forward_degree(std::int64_t moe_index = 0) const;
  /// Backward degree of the MoE layer with `moe_index`.
  int backward_degree(std::int64_t moe_index) const;
  const fsmoe::GradientPlan& gradient_plan(std::int64_t stage) const;

  void core_forward(const Step& s, const MoeLayerPlan& p);
  void core_backward(const Step& s, const MoeLayerPlan& p);
  void block_forward(const Step& s);
  void block_backward(const Step& s);
  void gradient_sync(Chain& chain);

 private:
  /// The planner (degrees, gradient partition); the constructor runs it.
  void plan();
  fsmoe::PipelineCosts fit_costs(const MoeLayerPlan& p) const;
  double expert_ms(const MoeLayerPlan& p, std::int64_t parts, bool beside_comm) const;
  double attention_backward_ms() const;
  double dense_ffn_backward_ms() const;
  std::int64_t attention_grad_bytes() const;
  std::int64_t layer_grad_bytes(std::int64_t layer) const;
  std::int64_t gate_grad_bytes() const;
  /// Tutel-Improved: gradient bytes all-reduced after the backward of MoE layer `layer`.
  double tutel_improved_block_bytes(std::int64_t stage, std::int64_t layer) const;
  /// Kernels of layer 0's attention backward, priced beside the gradient all-reduce that runs
  /// beside it (Tutel-Improved), else alone.
  SimTime attention_backward_estimate() const;
  void plan_gradients();
  void record_expert_estimate(const std::string& prefix);
  /// PipeMoE's time of one direction at degree r (ms).
  static double pipemoe_ms(const fsmoe::PipelineCosts& direction, int r);
  int pipemoe_degree(const fsmoe::PipelineCosts& costs) const;
  fsmoe::PipelineCosts planner_costs(std::int64_t moe_index);
  std::int64_t moe_index_of(std::int64_t layer) const;
  /// Generalized-layer index (backward order within its stage) of a MoE layer.
  std::size_t generalized_index(std::int64_t layer) const;
  bool last_micro_batch(const Step& s) const {
    return s.micro_batch == ctx_.job().layout.micro_batches - 1;
  }
  void emit_grad_allreduce(const Step& s, double bytes, std::string_view name, StreamId stream);
  void emit_chunked(const Step& s, const MoeLayerPlan& p, Phase phase, std::int64_t degree,
                    double gar_bytes);

  /// The chunked core as a piece, for the DeepSpeed-order block around it.
  class Core final : public MoeCore {
   public:
    explicit Core(FsmoeSchedule& schedule) : schedule_(schedule) {}
    void forward(const Step& s, const MoeLayerPlan& p) override { schedule_.core_forward(s, p); }
    void backward(const Step& s, const MoeLayerPlan& p) override { schedule_.core_backward(s, p); }

   private:
    FsmoeSchedule& schedule_;
  };

  EmissionContext& ctx_;
  Core core_{*this};
  DeepSpeedMoeBlock serial_block_;
  FsmoeVariant variant_;
  StreamId inter_;
  StreamId intra_;
  std::map<std::pair<std::int64_t, std::vector<std::int64_t>>, fsmoe::PipelineCosts> fits_;
  fsmoe::LinearCost allreduce_;
  std::vector<int> degree_fwd_;  ///< per MoE layer (tutel-improved: both directions)
  std::int64_t first_moe_layer_ = 0;
  /// Per stage: the gradient plan over its MoE layers in backward order, and those layers.
  std::vector<fsmoe::GradientPlan> grad_plans_;
  std::vector<std::vector<std::int64_t>> stage_moe_layers_;
  /// Per stage: data-parallel gradient bytes (per rank) already all-reduced during backward.
  std::vector<std::int64_t> assigned_;
  /// Per rank: the gradient all-reduces issued during backward (the optimizer waits for them).
  std::vector<std::vector<TaskId>> grad_sent_;
};

/// FSMoE's MoE block piece (FsmoeSchedule::block_forward / block_backward).
class FsmoeMoeBlock final : public MoeBlockSchedule {
 public:
  explicit FsmoeMoeBlock(FsmoeSchedule& schedule) : schedule_(schedule) {}
  void forward(const Step& s) override { schedule_.block_forward(s); }
  void backward(const Step& s) override { schedule_.block_backward(s); }

 private:
  FsmoeSchedule& schedule_;
};

/// FSMoE's gradient-sync piece (FsmoeSchedule::gradient_sync).
class FsmoeGradientSync final : public GradientSync {
 public:
  explicit FsmoeGradientSync(FsmoeSchedule& schedule) : schedule_(schedule) {}
  void emit(Chain& after_backward) override { schedule_.gradient_sync(after_backward); }

 private:
  FsmoeSchedule& schedule_;
};

}  // namespace moesim::strategies
