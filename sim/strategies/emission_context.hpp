// EmissionContext: the graph-building and emission context of one iteration, shared by the
// pieces a strategy composes (iteration_pieces.hpp). It is not a base class and has no hooks:
// it owns the TaskGraph being built, the token plans, the decisions and the streams, and offers
// the primitives (a kernel or a collective after explicit dependencies or after a Chain), the
// block emitters that walk the op catalogue (layer_ops.hpp) and the lists of what a stage runs
// at once (exchange_ops, esp_ops, group_ops), which emission emits and planners price together
// (CostModels::estimate_together). Every piece receives it explicitly, at construction.
//
// What the blocks emit, per rank of a pipeline stage (FSMoE Table 1; DeepSpeed-MoE):
//  attention:      ln1, qkv GEMM, core attention, out-projection, TP all-reduce, ln2;
//  dense FFN:      GEMM, act, GEMM, TP all-reduce;
//  experts:        the expert FFN of every local expert on its token count;
//  exchanges:      dispatch / combine all-to-all(-v) over every EP group of the stage, ESP
//                  all-gather / reduce-scatter;
//  backward:       the same ops mirrored, every GEMM as dX then dW (same FLOPs), TP all-reduces
//                  where the forward had identities (Megatron f/g).
// Streams: "compute" for kernels, "comm" for collectives, "pp" for pipeline transfers; pieces that
// overlap add their own. Tasks carry the phase and layer last set with set_info().
//
// Dependencies inside one (stage, micro-batch) item follow an explicit per-rank Chain
// (graph_builder.hpp) carried by the Step: kernel() and collective() wait for the chain and
// become it; the *_after() forms take explicit dependencies and leave it alone. Forks (chunks,
// partitions, steps) copy the chain and join the copies.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sim/strategies/graph_builder.hpp"
#include "sim/strategies/layer_ops.hpp"
#include "sim/strategies/strategy.hpp"
#include "sim/strategies/token_plan.hpp"

namespace moesim::strategies {

/// One (stage, micro-batch, layer) step of one direction.
struct Step {
  std::int64_t stage = 0;
  std::int64_t micro_batch = 0;
  std::int64_t layer = 0;
  std::int64_t moe_index = -1;  ///< -1 for a dense layer
  Phase phase = Phase::forward;
  const std::vector<RankId>* ranks = nullptr;  ///< the stage's ranks
  Chain* chain = nullptr;                      ///< what each rank's next op waits for
};

class EmissionContext {
 public:
  using Options = TokenPlanOptions;

  EmissionContext(const TrainingJob& job, const CostModels& costs, Options options);
  EmissionContext(const EmissionContext&) = delete;
  EmissionContext& operator=(const EmissionContext&) = delete;

  const TrainingJob& job() const { return job_; }
  const CostModels& costs() const { return costs_; }
  TaskGraph& graph() { return graph_; }
  const TaskGraph& graph() const { return graph_; }
  /// What the pieces chose and estimated, by key (written into the result).
  Decisions& decisions() { return decisions_; }
  StreamId compute() const { return compute_; }
  StreamId comm() const { return comm_; }
  /// The stage's ranks.
  const std::vector<RankId>& stage_ranks(std::int64_t stage) const {
    return stage_ranks_[static_cast<std::size_t>(stage)];
  }

  /// Per-layer token plan (computed on first use).
  const MoeLayerPlan& plan(std::int64_t moe_index);

  /// The graph and decisions built so far; the context is spent afterwards.
  BuildResult take_result();

  /// EPLB copies (job.placement): the all-reduce of every replicated expert's gradients among
  /// the ranks holding it, for s.layer; returns the extra parameters the optimizer updates.
  std::int64_t emit_replica_sync(const Step& s);

  // --- the model's ends (models with a vocab_size; nothing otherwise) ---
  /// Pipeline drivers that split only the layers over their stages call it at construction:
  /// throws InputError naming --parallel when split=ends (ParallelLayout::ends_in_split, Megatron's
  /// split of layers + 2 slots) is asked of `strategy`.
  void require_layer_split(std::string_view strategy) const;
  /// The embedding (first stage) and the output head (final norm, LM head, loss: last stage) of
  /// one pipeline item; pipeline drivers call it before (before_layers) and after its layers.
  /// With ModelSpec::mtp_layers the output head runs once more per MTP depth (the MTP modules
  /// themselves are the drivers' to emit, between the layers and the heads).
  void emit_model_ends(const Step& s, bool first_stage, bool last_stage, bool before_layers);
  /// Their gradients' all-reduce on the stage after its backward (gradient syncs call it);
  /// returns their parameters, for the optimizer.
  std::int64_t emit_model_ends_gradient_sync(const Step& s, bool first_stage, bool last_stage);

  // --- blocks ---
  void emit_attention_forward(const Step& s);
  void emit_attention_backward(const Step& s);
  void emit_dense_ffn_forward(const Step& s);
  void emit_dense_ffn_backward(const Step& s);
  void emit_shared_experts_forward(const Step& s);
  void emit_shared_experts_backward(const Step& s);
  /// A catalogue block in order: kernel runs on every rank of the stage (on `stream`),
  /// collectives over every group of their kind in the stage (on "comm").
  void emit_work(const Step& s, const BlockWork& work, StreamId stream);
  /// A block of kernels only, on one rank.
  void emit_rank_work(const Step& s, RankId r, const BlockWork& work, StreamId stream);
  /// Expert FFN of every local expert of `r` on `tokens[e]` tokens (forward or backward).
  void emit_experts(const Step& s, RankId r, const std::vector<std::int64_t>& tokens, Phase phase,
                    StreamId stream);
  /// The dispatch (or, with combine = true, the combine) over every EP group of the stage;
  /// `fraction` = 1/chunks of the buffer for pipelined strategies.
  void emit_expert_exchange(const Step& s, const MoeLayerPlan& p, bool combine,
                            std::string_view name, StreamId stream, std::int64_t chunk = 0,
                            std::int64_t chunks = 1);
  /// ESP all-gather (gather = true) or reduce-scatter of the dispatched buffer.
  void emit_esp_collective(const Step& s, const MoeLayerPlan& p, bool gather, std::string_view name,
                           StreamId stream, std::int64_t chunk = 0, std::int64_t chunks = 1);
  /// One collective per op (each member after its rank's chain).
  void emit_ops(const Step& s, std::string_view name, std::vector<CommOp> ops, StreamId stream);

  // --- what a stage runs at once: emission emits these, planners price them together ---
  /// The dispatch (combine = false) or combine of every EP group of `stage`, chunk `chunk` of
  /// `chunks`.
  std::vector<CommOp> exchange_ops(std::int64_t stage, const MoeLayerPlan& p, bool combine,
                                   std::int64_t chunk = 0, std::int64_t chunks = 1) const;
  /// The ESP all-gather (gather = true) or reduce-scatter of every ESP group of `stage`.
  std::vector<CommOp> esp_ops(std::int64_t stage, const MoeLayerPlan& p, bool gather,
                              std::int64_t chunk = 0, std::int64_t chunks = 1) const;
  /// One op per group of `kind` in `stage` (groups of one skipped).
  std::vector<CommOp> group_ops(std::int64_t stage, GroupKind kind, CommKind comm, CommGroup group,
                                Bytes bytes) const;
  /// A block's collectives as the stage runs them: each priced together over its groups.
  SimTime stage_comm_time(const BlockWork& work, std::int64_t stage) const;

  // --- primitives ---
  /// A kernel on `r` after chain[r]; it becomes chain[r].
  TaskId kernel(Chain& chain, RankId r, std::string_view name, const ComputeTask& t);
  TaskId kernel(Chain& chain, RankId r, std::string_view name, const ComputeTask& t,
                StreamId stream);
  /// A kernel after explicit `deps`; no chain is touched.
  TaskId kernel_after(RankId r, std::string_view name, const ComputeTask& t, StreamId stream,
                      const std::vector<TaskId>& deps);
  /// One operation over op.ranks; each member waits for its rank's chain and becomes it.
  std::vector<TaskId> collective(Chain& chain, std::string_view name, CommOp op, StreamId stream);
  /// One operation; member i waits for deps[i] (if valid); no chain is touched.
  std::vector<TaskId> collective_after(std::string_view name, CommOp op, StreamId stream,
                                       const std::vector<std::vector<TaskId>>& deps);
  /// The same operation kind over every group of `kind` in the stage (groups of one skipped).
  void group_collective(const Step& s, GroupKind kind, std::string_view name, CommKind comm,
                        CommGroup group, Bytes bytes);
  CommOp op(CommKind kind, CommGroup group, const std::vector<RankId>& ranks, Bytes bytes) const;
  /// A pipeline transfer: each rank of `ranks` sends `bytes` (activations when `forward`, else
  /// gradients) to the rank at its (tp, dp) on stage `to_stage`, after chain[r], on `stream`.
  /// Returns each receiver with the task its next pass waits for.
  std::vector<std::pair<RankId, TaskId>> emit_stage_transfer(const std::vector<RankId>& ranks,
                                                             std::int64_t to_stage, bool forward,
                                                             Bytes bytes, StreamId stream,
                                                             const Chain& chain);

  /// Phase and layer of the tasks emitted next.
  void set_info(const Step& s) { info_ = TaskInfo{s.phase, static_cast<std::int32_t>(s.layer)}; }
  void set_info(TaskInfo info) { info_ = info; }

  /// Groups of `kind` whose ranks are in `stage`.
  const std::vector<const std::vector<RankId>*>& stage_groups(GroupKind kind,
                                                              std::int64_t stage) const;
  /// Index of `r`'s EP group in RankMapping::groups(ep).
  std::size_t ep_group_index(RankId r) const { return ep_group_index_[r.index()]; }

  // --- the catalogue of the layer's kernels (layer_ops.hpp); planners price from it too ---
  const LayerOps& ops() const { return ops_; }

  // --- sizes ---
  std::int64_t elem_bytes() const { return dtype_bytes(job_.model.dtype); }
  std::int64_t tokens() const { return job_.model.tokens_per_micro_batch(); }
  std::int64_t local_experts() const { return job_.model.experts / job_.layout.ep; }
  /// Expert slots per rank: local_experts(), or the EPLB placement's.
  std::int64_t expert_slots() const { return slots_per_rank(job_); }
  /// Slots a rank's permute produces for `p` (E*C padded, k*T dropless; before the tp split).
  std::int64_t permuted_slots(const MoeLayerPlan& p) const;
  /// Slots per expert of `p`'s capacity-padded dispatch (0 when dropless), for ComputeOp.
  std::int64_t dispatch_capacity(const MoeLayerPlan& p) const;
  /// Bytes a rank sends in `p`'s dispatch (padded buffer, or its row of the matrix).
  std::int64_t dispatch_bytes(const MoeLayerPlan& p, RankId r) const;

 private:
  const TrainingJob& job_;
  const CostModels& costs_;
  Options options_;
  LayerOps ops_;
  TaskGraph graph_;
  Decisions decisions_;
  StreamId compute_;
  StreamId comm_;
  GraphBuilder builder_;

  TaskInfo info_;
  std::vector<std::vector<RankId>> stage_ranks_;
  std::vector<std::vector<std::vector<const std::vector<RankId>*>>> stage_groups_;  // [kind][stage]
  std::vector<std::size_t> ep_group_index_;
  std::map<std::int64_t, MoeLayerPlan> plans_;
};

}  // namespace moesim::strategies
