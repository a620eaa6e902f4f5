#include "sim/strategies/emit_iteration.hpp"

#include <fmt/format.h>

namespace moesim::strategies {

BuildResult emit_iteration(EmissionContext& ctx, PipelineDriver& pipeline,
                           GradientSync& gradients) {
  Chain after_backward = pipeline.emit();
  gradients.emit(after_backward);
  record_token_plan_decisions(ctx);
  return ctx.take_result();
}

void record_token_plan_decisions(EmissionContext& ctx) {
  const ModelSpec& m = ctx.job().model;
  std::int64_t routed = 0, dropped = 0;
  for (std::int64_t l = 0; l < m.moe_layer_count(); ++l) {
    routed += ctx.plan(l).routed;
    dropped += ctx.plan(l).dropped;
  }
  if (m.moe_layer_count() > 0) {
    const MoeLayerPlan& p0 = ctx.plan(0);
    ctx.decisions()["moe.dispatch"] = Decision::choice(
        p0.padded ? "all_to_all" : "all_to_all_v", p0.padded ? "capacity-padded" : "routed counts");
    if (p0.padded) {
      ctx.decisions()["moe.capacity_per_rank"] =
          Decision::count(p0.capacity, "tokens", "slots per expert per rank, MoE layer 0");
    }
    ctx.decisions()["moe.tokens_in_tp_group"] =
        ctx.job().layout.tp == 1
            ? Decision::choice("n/a", "tp=1")
            : (p0.split_over_tp ? Decision::choice("split", "drop_tokens/gather_tokens")
                                : Decision::choice("duplicated", "on every tp rank"));
    ctx.decisions()["moe.dropped_tokens"] = Decision::count(
        dropped, "tokens",
        fmt::format(
            "of {} routed ({:.2f}%)", routed,
            routed ? 100.0 * static_cast<double>(dropped) / static_cast<double>(routed) : 0.0));
  }
}

}  // namespace moesim::strategies
