// The default layer: attention, then the dense FFN or the MoE block (forward); in backward, the
// recomputation first (activation checkpointing, when a Recompute is given), then the MoE block
// or dense FFN backward, then the attention backward.
#pragma once

#include "sim/strategies/iteration_pieces.hpp"

namespace moesim::strategies {

class StandardLayer final : public LayerSchedule {
 public:
  StandardLayer(EmissionContext& ctx, MoeBlockSchedule& moe, Recompute* recompute = nullptr)
      : ctx_(ctx), moe_(moe), recompute_(recompute) {}
  void emit(const Step& s) override;

 private:
  EmissionContext& ctx_;
  MoeBlockSchedule& moe_;
  Recompute* recompute_;  ///< nullptr: nothing is recomputed
};

}  // namespace moesim::strategies
