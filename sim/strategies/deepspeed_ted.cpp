// deepspeed-ted, deepspeed-ted-base: DeepSpeed-TED's tensor x expert x data parallelism
// (Singh et al., ICS 2023, arXiv 2303.06318).
//
// Reconstruction [R]: only the abstract and DeepSpeed's drop/gather
// token code were read; the op sequence and message sizes are reconstructed from them.
//
// Layout: TP groups of consecutive ranks inside a node (--parallel tp=T), the experts sharded
// over the same TP group (esp = T; esp = 1 also runs, below), EP carved out of DP: an EP group
// holds the ranks with the same TP shard index across data-parallel replicas. Non-experts are
// Megatron TP x DP. MoE block, forward (x = B*L tokens replicated on the T ranks of a TP group, S =
// E*C*M*b):
//   base:  gate (replicated) -> order -> A2A(S) over EP (every TP rank ships the same payload)
//          -> expert GEMM1 column-parallel (M x H/T) -> act -> GEMM2 row-parallel (H/T x M)
//          -> TP all-reduce of the expert output (S) -> A2A(S) -> I-order.
//   DTD (duplicate token dropping): drop (each TP rank keeps 1/T of the slots) -> A2A(S/T) ->
//          TP all-gather (out S) -> experts -> TP all-reduce -> drop -> A2A(S/T) -> TP
//          all-gather (out S); inter-node bytes / T for intra-node all-gathers.
// Backward mirrors it: the combine's A2A, [TP all-gather], expert dX/dW, TP all-reduce of the
// column-parallel input gradient, [drop], the dispatch's A2A, [TP all-gather]; every drop's
// backward is an all-gather and every all-gather's backward a drop (a local slice).
// Activation checkpointing (ac): each layer's backward first recomputes its forward (attention,
// then the dense FFN or the MoE block, TP all-reduces included). Communication-aware activation
// checkpointing (cac) keeps the all-to-alls' outputs from the forward, so the recomputed MoE
// block issues no all-to-all (its TP collectives still run).
// With esp = 1 (experts not sharded, TED's non-expert TP only) the MoE block is DeepSpeed-MoE's:
// DTD is DeepSpeed's drop_tokens -> A2A -> experts -> A2A -> gather_tokens.
// Options (name:key=value:...): dtd, cac, ac = on|off. deepspeed-ted = all on;
// deepspeed-ted-base = TED without its communication optimisations (dtd=off, cac=off, ac=on).
// Decisions: ted.dtd, ted.cac, ted.activation_checkpointing.
#include <fmt/format.h>

#include "sim/core/errors.hpp"
#include "sim/strategies/iteration_builder.hpp"
#include "sim/strategies/registry.hpp"

namespace moesim::strategies {
namespace {

struct TedOptions {
  bool dtd = true;
  bool cac = true;
  bool ac = true;
};

class TedBuilder final : public IterationBuilder {
 public:
  TedBuilder(const TrainingJob& job, const CostModels& costs, TedOptions ted)
      : IterationBuilder(job, costs, options(job, ted)),
        ted_(ted),
        sharded_(job.layout.tp > 1 && job.layout.esp == job.layout.tp) {
    decisions_["ted.dtd"] = ted.dtd
                                ? Decision::choice("on", job.layout.tp > 1 ? "" : "no effect, tp=1")
                                : Decision::choice("off");
    decisions_["ted.activation_checkpointing"] = Decision::choice(ted.ac ? "on" : "off");
    decisions_["ted.cac"] = ted.cac ? Decision::choice("on", ted.ac ? "" : "no effect, ac=off")
                                    : Decision::choice("off");
  }

  static Options options(const TrainingJob& job, TedOptions ted) {
    Options o;
    o.pad_to_capacity = true;  // DeepSpeed's (E, C, M) dispatch
    o.split_tokens_over_tp = ted.dtd && job.layout.tp > 1;
    return o;
  }

 protected:
  void emit_recompute(const Step& s) override {
    if (!ted_.ac) return;
    recomputing_ = true;
    emit_attention_forward(s);
    if (s.moe_index >= 0) {
      emit_moe_forward(s);
    } else {
      emit_dense_ffn_forward(s);
    }
    recomputing_ = false;
  }

  void emit_moe_core_forward(const Step& s, const MoeLayerPlan& p) override {
    // Unsharded experts (esp = 1) take DeepSpeed's path; CAC skips its all-to-alls on recompute.
    if (!(recomputing_ && ted_.cac)) {
      IterationBuilder::emit_moe_core_forward(s, p);
      return;
    }
    for (RankId r : *s.ranks)
      emit_experts(s, r, p.expert_tokens[r.index()], Phase::forward, compute_);
  }

  void emit_moe_forward(const Step& s) override {
    if (!sharded_) {
      IterationBuilder::emit_moe_forward(s);
      return;
    }
    const MoeLayerPlan& p = plan(s.moe_index);
    const std::int64_t x = tokens();
    const std::int64_t slots = permuted_slots(p);
    // With CAC the recomputation reads the all-to-alls' saved outputs instead of re-sending.
    const bool a2a = !(recomputing_ && ted_.cac);
    for (RankId r : *s.ranks) {
      emit_rank_work(s, r, ops().gate_permute(Pass::forward, x, slots, p.kept[r.index()]),
                     compute_);
    }
    drop(s, p);
    if (a2a) {
      emit_expert_exchange(s, p, false, recomputing_ ? "ep.dispatch.recompute" : "ep.dispatch",
                           comm_);
    }
    gather(s, p);
    for (RankId r : *s.ranks) emit_experts(s, r, expert_tokens(p, r), Phase::forward, compute_);
    group_collective(s, GroupKind::tp, "tp.expert.allreduce", CommKind::all_reduce, CommGroup::tp,
                     Bytes{expert_output_bytes(p)});
    drop(s, p);
    if (a2a) {
      emit_expert_exchange(s, p, true, recomputing_ ? "ep.combine.recompute" : "ep.combine", comm_);
    }
    gather(s, p);
    for (RankId r : *s.ranks) {
      emit_rank_work(s, r, ops().unpermute(Pass::forward, x, slots, p.kept[r.index()]), compute_);
    }
    emit_shared_experts_forward(s);
  }

  void emit_moe_backward(const Step& s) override {
    if (!sharded_) {
      IterationBuilder::emit_moe_backward(s);
      return;
    }
    const MoeLayerPlan& p = plan(s.moe_index);
    const std::int64_t x = tokens();
    const std::int64_t slots = permuted_slots(p);
    emit_shared_experts_backward(s);
    for (RankId r : *s.ranks) {
      emit_rank_work(s, r, ops().unpermute(Pass::backward, x, slots, p.kept[r.index()]), compute_);
    }
    drop(s, p);  // backward of the combine's all-gather
    emit_expert_exchange(s, p, false, "ep.combine.bwd", comm_);
    gather(s, p);  // backward of the combine's drop
    for (RankId r : *s.ranks) emit_experts(s, r, expert_tokens(p, r), Phase::backward, compute_);
    // Column-parallel GEMM1: the input gradient is a partial sum over the TP group.
    group_collective(s, GroupKind::tp, "tp.expert.allreduce", CommKind::all_reduce, CommGroup::tp,
                     Bytes{expert_output_bytes(p)});
    drop(s, p);  // backward of the dispatch's all-gather
    emit_expert_exchange(s, p, true, "ep.dispatch.bwd", comm_);
    gather(s, p);  // backward of the dispatch's drop
    for (RankId r : *s.ranks) {
      emit_rank_work(s, r, ops().gate_permute(Pass::backward, x, slots, p.kept[r.index()]),
                     compute_);
    }
  }

 private:
  /// Tokens each local expert shard of `r` computes: everything its EP group routed to the
  /// expert, once (with DTD the TP all-gather reassembles the T dropped parts; without it every
  /// TP rank received the same full set, so the ESP-style plan counts it T times).
  std::vector<std::int64_t> expert_tokens(const MoeLayerPlan& p, RankId r) const {
    std::vector<std::int64_t> t = p.expert_tokens[r.index()];
    if (!p.split_over_tp) {
      for (auto& n : t) n /= job_.layout.tp;
    }
    return t;
  }

  /// Expert output per rank (the TP all-reduce's buffer): all slots of the local experts.
  std::int64_t expert_output_bytes(const MoeLayerPlan& p) const {
    std::int64_t slots = 0;
    for (std::int64_t n : expert_tokens(p, job_.mapping.stage_ranks(0).front())) slots += n;
    return slots * job_.model.hidden * elem_bytes();
  }

  /// DTD's drop: each TP rank keeps its 1/T of the capacity slots (a strided copy).
  void drop(const Step& s, const MoeLayerPlan& p) {
    if (!p.split_over_tp) return;
    const KernelOp slice = ops().token_slice("drop_tokens", p.capacity * job_.model.experts);
    for (RankId r : *s.ranks) kernel(*s.chain, r, slice.name, slice.task);
  }

  /// DTD's TP all-gather restoring all T parts (output = every slot).
  void gather(const Step& s, const MoeLayerPlan& p) {
    if (!p.split_over_tp) return;
    group_collective(s, GroupKind::tp, "tp.gather_tokens", CommKind::all_gather, CommGroup::tp,
                     Bytes{permuted_slots(p) * job_.model.hidden * elem_bytes()});
  }

  TedOptions ted_;
  bool sharded_;  ///< experts TP-sharded over the TP group (esp = tp > 1)
  bool recomputing_ = false;
};

class DeepSpeedTed final : public Strategy {
 public:
  DeepSpeedTed(std::string name, TedOptions options) : name_(std::move(name)), options_(options) {}
  std::string_view name() const override { return name_; }
  std::string_view summary() const override {
    return options_.dtd || options_.cac
               ? "DeepSpeed-TED: TP x EP x DP, TP-sharded experts, duplicate token dropping + "
                 "communication-aware checkpointing"
               : "DeepSpeed-TED without its communication optimisations (TP x EP x DP)";
  }
  BuildResult build_iteration(const TrainingJob& job, const CostModels& costs) const override {
    if (job.layout.esp != job.layout.tp && job.layout.esp != 1) {
      throw input_error("", "--parallel",
                        fmt::format("{} shards every expert over the TP group (esp = tp) or not "
                                    "at all (esp = 1)",
                                    name_),
                        fmt::format("tp={} esp={}", job.layout.tp, job.layout.esp),
                        fmt::format("esp={} or esp=1", job.layout.tp));
    }
    TedBuilder builder(job, costs, options_);
    return builder.build();
  }

 private:
  std::string name_;
  TedOptions options_;
};

std::unique_ptr<Strategy> configure(std::string_view base, TedOptions defaults,
                                    StrategyOptions& options) {
  TedOptions o;
  o.dtd = options.get_bool("dtd", defaults.dtd);
  o.cac = options.get_bool("cac", defaults.cac);
  o.ac = options.get_bool("ac", defaults.ac);
  std::string name(base);
  if (!options.empty()) name += ":" + options.text();
  return std::make_unique<DeepSpeedTed>(std::move(name), o);
}

constexpr TedOptions kTed{true, true, true};
constexpr TedOptions kTedBase{false, false, true};

}  // namespace

std::unique_ptr<Strategy> make_deepspeed_ted() {
  return std::make_unique<DeepSpeedTed>("deepspeed-ted", kTed);
}
std::unique_ptr<Strategy> make_deepspeed_ted_base() {
  return std::make_unique<DeepSpeedTed>("deepspeed-ted-base", kTedBase);
}
std::unique_ptr<Strategy> configure_deepspeed_ted(StrategyOptions& options) {
  return configure("deepspeed-ted", kTed, options);
}
std::unique_ptr<Strategy> configure_deepspeed_ted_base(StrategyOptions& options) {
  return configure("deepspeed-ted-base", kTedBase, options);
}

}  // namespace moesim::strategies
