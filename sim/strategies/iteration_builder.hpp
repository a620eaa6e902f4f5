// IterationBuilder: the building blocks every strategy reuses to emit one training iteration.
//
// What it emits, per rank of every pipeline stage (FSMoE Table 1; DeepSpeed-MoE):
//  forward, per layer:  ln1, qkv GEMM, core attention, out-projection, TP all-reduce, ln2, then
//                       a dense FFN (GEMM, act, GEMM, TP all-reduce) or the MoE block;
//  MoE block (default = DeepSpeed-MoE order): gate GEMM, softmax/top-k, permute into (E, C, M)
//                       or dropless order, [drop duplicate tokens], dispatch all-to-all(-v) over
//                       EP, [ESP all-gather], expert GEMMs per local expert with that expert's
//                       token count, [ESP reduce-scatter], combine all-to-all(-v), [TP gather],
//                       un-permute, [shared experts + TP all-reduce];
//  backward, per layer in reverse: the same ops mirrored, every GEMM as dX then dW (same FLOPs),
//                       TP all-reduces where the forward had identities (Megatron f/g);
//  pipeline:            GPipe or 1F1B over micro-batches, send_recv between stages on "pp";
//  after the last backward: gradient all-reduce per layer over the non-expert DP group and over
//                       the expert-DP group, then the optimizer step.
// Streams: "compute" for kernels, "comm" for collectives, "pp" for pipeline transfers; strategies
// that overlap add their own. Tasks carry phase and layer.
//
// Dependencies follow a per-rank frontier: the tasks the next op of that rank waits for. kernel()
// and collective() wait for the frontier and become it; the *_after() forms take explicit
// dependencies and leave the frontier alone (for pipelined schedules).
//
// Strategies subclass and override the hooks: emit_moe_core_forward/backward (dispatch ->
// experts -> combine; Tutel and FasterMoE replace only this), emit_moe_forward/backward (the whole
// block), emit_gradient_sync (where gradient all-reduces go).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sim/strategies/strategy.hpp"

namespace moesim::strategies {

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
  /// expert_tokens[rank][local expert]: tokens each of the rank's expert shards processes
  /// (after the ESP gather; padded slots included when padded).
  std::vector<std::vector<std::int64_t>> expert_tokens;
  /// Per EP group (index into RankMapping::groups(ep)): bytes member i sends to member j, and
  /// the transpose for the combine. Empty when padded.
  std::vector<std::shared_ptr<const ByteMatrix>> dispatch;
  std::vector<std::shared_ptr<const ByteMatrix>> combine;
  std::int64_t routed = 0;   ///< token-expert assignments over all replicas (before the split)
  std::int64_t dropped = 0;  ///< of those, dropped by capacity
};

class IterationBuilder {
 public:
  struct Options {
    /// Capacity-padded dispatch (DeepSpeed, Tutel). Dropless models pad to the largest count.
    bool pad_to_capacity = true;
    /// Drop tokens over the model's capacity factor (GShard gating). False: every routed token
    /// is dispatched (FastMoE), whatever the model's capacity_factor.
    bool apply_capacity = true;
    /// DeepSpeed drop_tokens/gather_tokens: with tp > 1 and unsharded experts, each tp rank
    /// dispatches 1/tp of the slots and an all-gather over tp restores them after the combine.
    bool split_tokens_over_tp = false;
  };

  IterationBuilder(const TrainingJob& job, const CostModels& costs, Options options);
  virtual ~IterationBuilder() = default;
  IterationBuilder(const IterationBuilder&) = delete;
  IterationBuilder& operator=(const IterationBuilder&) = delete;

  /// Emits the whole iteration (call once).
  BuildResult build();

  /// Per-layer plan (computed on first use).
  const MoeLayerPlan& plan(std::int64_t moe_index);

 protected:
  /// One (stage, micro-batch, layer) step of one direction.
  struct Step {
    std::int64_t stage = 0;
    std::int64_t micro_batch = 0;
    std::int64_t layer = 0;
    std::int64_t moe_index = -1;  ///< -1 for a dense layer
    Phase phase = Phase::forward;
    const std::vector<RankId>* ranks = nullptr;  ///< the stage's ranks
  };

  // --- hooks ---
  virtual void emit_moe_forward(const Step& s);
  virtual void emit_moe_backward(const Step& s);
  virtual void emit_moe_core_forward(const Step& s, const MoeLayerPlan& p);
  virtual void emit_moe_core_backward(const Step& s, const MoeLayerPlan& p);
  virtual void emit_gradient_sync();
  /// One layer of one step (attention + dense FFN or MoE block, or their backward); Lancet
  /// overrides it to emit a partitioned forward range and a reordered backward.
  virtual void emit_layer(const Step& s);
  /// Activation checkpointing: called at the start of every layer's backward, before its
  /// gradient kernels, to re-emit what the layer recomputes (default: nothing is recomputed).
  virtual void emit_recompute(const Step& s) { (void)s; }

  // --- blocks ---
  void emit_attention_forward(const Step& s);
  void emit_attention_backward(const Step& s);
  void emit_dense_ffn_forward(const Step& s);
  void emit_dense_ffn_backward(const Step& s);
  void emit_shared_experts_forward(const Step& s);
  void emit_shared_experts_backward(const Step& s);
  /// Expert FFN of every local expert of `r` on `tokens[e]` tokens (forward or backward).
  void emit_experts(RankId r, const std::vector<std::int64_t>& tokens, Phase phase,
                    StreamId stream);
  /// The dispatch (or, with combine = true, the combine) over every EP group of the stage;
  /// `fraction` = 1/chunks of the buffer for pipelined strategies.
  void emit_expert_exchange(const Step& s, const MoeLayerPlan& p, bool combine,
                            std::string_view name, StreamId stream, std::int64_t chunk = 0,
                            std::int64_t chunks = 1);
  /// ESP all-gather (gather = true) or reduce-scatter of the dispatched buffer.
  void emit_esp_collective(const Step& s, const MoeLayerPlan& p, bool gather, std::string_view name,
                           StreamId stream, std::int64_t chunk = 0, std::int64_t chunks = 1);

  // --- primitives ---
  /// A kernel on `r` after its frontier; it becomes the frontier.
  TaskId kernel(RankId r, std::string_view name, const ComputeTask& t);
  TaskId kernel(RankId r, std::string_view name, const ComputeTask& t, StreamId stream);
  /// A kernel after explicit `deps`; the frontier is untouched.
  TaskId kernel_after(RankId r, std::string_view name, const ComputeTask& t, StreamId stream,
                      const std::vector<TaskId>& deps);
  /// One operation over op.ranks; each member waits for its rank's frontier and becomes it.
  std::vector<TaskId> collective(std::string_view name, CommOp op, StreamId stream);
  /// One operation; member i waits for deps[i] (if valid); the frontier is untouched.
  std::vector<TaskId> collective_after(std::string_view name, CommOp op, StreamId stream,
                                       const std::vector<std::vector<TaskId>>& deps);
  /// The same operation kind over every group of `kind` in the stage (groups of one skipped).
  void group_collective(const Step& s, GroupKind kind, std::string_view name, CommKind comm,
                        CommGroup group, Bytes bytes);
  CommOp op(CommKind kind, CommGroup group, const std::vector<RankId>& ranks, Bytes bytes) const;

  std::vector<TaskId>& frontier(RankId r) { return frontier_[r.index()]; }
  void set_frontier(RankId r, TaskId t) { frontier_[r.index()].assign(1, t); }
  void set_info(const Step& s) { info_ = TaskInfo{s.phase, static_cast<std::int32_t>(s.layer)}; }

  /// Groups of `kind` whose ranks are in `stage`.
  const std::vector<const std::vector<RankId>*>& stage_groups(GroupKind kind,
                                                              std::int64_t stage) const;
  /// Index of `r`'s EP group in RankMapping::groups(ep).
  std::size_t ep_group_index(RankId r) const { return ep_group_index_[r.index()]; }

  // --- kernels (model dtype) ---
  ComputeTask gemm(std::int64_t m, std::int64_t n, std::int64_t k,
                   GemmRole role = GemmRole::none) const;
  /// `t` with what it computes (compute_op.hpp), for the hardware lowering.
  static ComputeTask described(ComputeTask t, ComputeOp op);
  /// The FFN activation of the model (GELU for two-GEMM FFNs, SwiGLU for gated ones).
  ActivationKind ffn_activation() const;
  /// The routing a rank's permute / unpermute kernels apply in MoE layer plan `p`.
  ComputeOp routing_op(const MoeLayerPlan& p, RankId r, OpDirection direction) const;
  ComputeTask memory_kernel(KernelKind kind, std::int64_t m, std::int64_t n, std::int64_t bytes,
                            double flops = 0.0) const;

  // --- sizes ---
  std::int64_t elem_bytes() const { return dtype_bytes(job_.model.dtype); }
  std::int64_t tokens() const { return job_.model.tokens_per_micro_batch(); }
  std::int64_t local_experts() const { return job_.model.experts / job_.layout.ep; }
  /// Slots a rank's permute produces for `p` (E*C padded, k*T dropless; before the tp split).
  std::int64_t permuted_slots(const MoeLayerPlan& p) const;
  /// Bytes a rank sends in `p`'s dispatch (padded buffer, or its row of the matrix).
  std::int64_t dispatch_bytes(const MoeLayerPlan& p, RankId r) const;

  const TrainingJob& job_;
  const CostModels& costs_;
  Options options_;
  TaskGraph graph_;
  std::map<std::string, std::string> decisions_;
  StreamId compute_;
  StreamId comm_;
  StreamId pp_;

 private:
  void emit_pipeline();
  MoeLayerPlan make_plan(std::int64_t moe_index) const;

  TaskInfo info_;
  std::vector<std::vector<TaskId>> frontier_;
  std::vector<std::vector<RankId>> stage_ranks_;
  std::vector<std::vector<std::vector<const std::vector<RankId>*>>> stage_groups_;  // [kind][stage]
  std::vector<std::size_t> ep_group_index_;
  std::map<std::int64_t, MoeLayerPlan> plans_;
};

/// A pipeline schedule as a sequence of (stage, micro-batch, forward?) items in an order that
/// respects every dependency (F(s,m) after F(s-1,m); B(s,m) after B(s+1,m) and F(s,m)); each
/// stage's items appear in that stage's own GPipe or 1F1B order.
struct PipelineItem {
  std::int64_t stage = 0;
  std::int64_t micro_batch = 0;
  bool forward = true;
};
std::vector<PipelineItem> pipeline_order(std::int64_t stages, std::int64_t micro_batches,
                                         PipelineSchedule schedule);

}  // namespace moesim::strategies
