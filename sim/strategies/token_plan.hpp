// Token plan of one MoE layer: how many tokens every rank sends to every expert (after capacity
// and the tp split), how many each expert shard computes, and the all-to-all-v byte matrices of
// every EP group. A pure function of the job and the strategy's token options; emission and
// planners read the same plan.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "sim/workload/comm_op.hpp"
#include "sim/workload/training_job.hpp"

namespace moesim::strategies {

struct TokenPlanOptions {
  /// Capacity-padded dispatch (DeepSpeed, Tutel). Dropless models pad to the largest count.
  bool pad_to_capacity = true;
  /// Drop tokens over the model's capacity factor (GShard gating). False: every routed token
  /// is dispatched (FastMoE), whatever the model's capacity_factor.
  bool apply_capacity = true;
  /// DeepSpeed drop_tokens/gather_tokens: with tp > 1 and unsharded experts, each tp rank
  /// dispatches 1/tp of the slots and an all-gather over tp restores them after the combine.
  bool split_tokens_over_tp = false;
};

/// Token plan of one MoE layer on every rank (the same for every micro-batch).
struct MoeLayerPlan {
  std::int64_t moe_index = 0;
  /// Capacity-padded: all-to-all of (E, C, M) buffers, experts compute every slot.
  bool padded = true;
  /// Each tp rank routes 1/tp of its replica's slots (DeepSpeed drop_tokens).
  bool split_over_tp = false;
  /// Slots per expert per rank (padded; after the tp split). 0 when dropless and not padded.
  std::int64_t capacity = 0;
  /// kept[rank][expert]: tokens the rank sends to each expert, after split and capacity.
  std::vector<std::vector<std::int64_t>> kept;
  /// expert_tokens[rank][slot]: tokens each of the rank's expert shards processes (slots: its
  /// local experts, or its EPLB copies)
  /// (after the ESP gather; padded slots included when padded).
  std::vector<std::vector<std::int64_t>> expert_tokens;
  /// Per EP group (index into RankMapping::groups(ep)): bytes member i sends to member j, and
  /// the transpose for the combine. Empty when padded.
  std::vector<std::shared_ptr<const ByteMatrix>> dispatch;
  std::vector<std::shared_ptr<const ByteMatrix>> combine;
  /// DeepEP-style exchange per EP group (job.ep_comm = deepep; empty otherwise): what each
  /// member delivers to each member (distinct tokens, not token-expert pairs), and the relay
  /// legs, for the dispatch and the combine. Used instead of dispatch/combine, padded or not
  /// (DeepEP sends token lists, never capacity padding).
  std::vector<std::shared_ptr<const ByteMatrix>> relay_dispatch_matrix;
  std::vector<std::shared_ptr<const ByteMatrix>> relay_combine_matrix;
  std::vector<std::shared_ptr<const NodeRelayExchange>> relay_dispatch;
  std::vector<std::shared_ptr<const NodeRelayExchange>> relay_combine;
  std::int64_t routed = 0;   ///< token-expert assignments over all replicas (before the split)
  std::int64_t dropped = 0;  ///< of those, dropped by capacity
};

MoeLayerPlan make_token_plan(const TrainingJob& job, const TokenPlanOptions& options,
                             std::int64_t moe_index);

/// Fills p's relay_* fields from its kept counts (make_token_plan does when job.ep_comm says
/// deepep). Bytes per token: FP8 + scales for the dispatch of an fp8 model, else the model dtype;
/// the combine in BF16 (or wider).
void add_node_relay(const TrainingJob& job, MoeLayerPlan& p, std::int64_t moe_index);

/// Expert slots per EP rank: E / ep, or the placement's (EPLB: experts + redundant over ep).
std::int64_t slots_per_rank(const TrainingJob& job);
/// Tokens of `row` (tokens per logical expert) that go to slot `slot` of EP member `member`.
std::int64_t slot_tokens(const TrainingJob& job, std::int64_t moe_index,
                         const std::vector<std::int64_t>& row, std::int64_t member,
                         std::int64_t slot);
/// The same summed over the member's slots.
std::int64_t member_tokens(const TrainingJob& job, std::int64_t moe_index,
                           const std::vector<std::int64_t>& row, std::int64_t member);

}  // namespace moesim::strategies
