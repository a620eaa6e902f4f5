// The emit and result steps of Strategy::build_iteration. A strategy's build_iteration is:
//   1. context: EmissionContext ctx(job, costs, token options);
//   2. plan: its planner pieces decide from the catalogue and the token plans, priced with the
//      cost models, and record their decisions (tutel's degree, parm's schedule, ...);
//   3. compose: the pieces wired explicitly (core -> MoE block -> layer -> pipeline driver;
//      gradient sync);
//   4. emit + result: emit_iteration(ctx, pipeline, gradients).
#pragma once

#include "sim/strategies/iteration_pieces.hpp"

namespace moesim::strategies {

/// Emits every pipeline item, then the gradient sync from where the backward ended, records the
/// token plans' decisions (moe.dispatch, moe.dropped_tokens, ...) and returns graph and decisions.
BuildResult emit_iteration(EmissionContext& ctx, PipelineDriver& pipeline, GradientSync& gradients);

/// The token plans' decisions of every MoE layer (moe.dispatch, moe.capacity_per_rank,
/// moe.tokens_in_tp_group, moe.dropped_tokens).
void record_token_plan_decisions(EmissionContext& ctx);

}  // namespace moesim::strategies
