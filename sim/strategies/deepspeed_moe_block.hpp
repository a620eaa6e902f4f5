// The default MoE block, in DeepSpeed-MoE's order (deepspeed/moe/sharded_moe.py
// MOELayer.forward): gate GEMM, softmax/top-k, permute into (E, C, M) or dropless order,
// [drop duplicate tokens], the core, [TP gather], un-permute, [shared experts + TP all-reduce];
// backward mirrors it. The core (DeepSpeedMoeCore): dispatch all-to-all(-v) over EP, [ESP
// all-gather], expert GEMMs per local expert with that expert's token count, [ESP
// reduce-scatter], combine all-to-all(-v), one after the other.
#pragma once

#include "sim/strategies/iteration_pieces.hpp"

namespace moesim::strategies {

/// DeepSpeed-MoE's serial core: dispatch, [ESP gather], experts, [ESP reduce-scatter], combine.
class DeepSpeedMoeCore final : public MoeCore {
 public:
  explicit DeepSpeedMoeCore(EmissionContext& ctx) : ctx_(ctx) {}
  void forward(const Step& s, const MoeLayerPlan& p) override;
  void backward(const Step& s, const MoeLayerPlan& p) override;

 private:
  EmissionContext& ctx_;
};

/// The block around a core (DeepSpeedMoeCore unless one is given).
class DeepSpeedMoeBlock final : public MoeBlockSchedule {
 public:
  explicit DeepSpeedMoeBlock(EmissionContext& ctx) : ctx_(ctx), own_core_(ctx), core_(own_core_) {}
  DeepSpeedMoeBlock(EmissionContext& ctx, MoeCore& core) : ctx_(ctx), own_core_(ctx), core_(core) {}
  void forward(const Step& s) override;
  void backward(const Step& s) override;

 private:
  EmissionContext& ctx_;
  DeepSpeedMoeCore own_core_;
  MoeCore& core_;
};

}  // namespace moesim::strategies
