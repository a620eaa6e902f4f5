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
// All-to-all: DeepSpeed's _AllToAll (dist.all_to_all_single, deepspeed/moe/sharded_moe.py),
// lowered as NCCL runs it (direct, PXN across rails).
#include <fmt/format.h>

#include "sim/core/errors.hpp"
#include "sim/strategies/ddp_gradient_sync.hpp"
#include "sim/strategies/deepspeed_moe_block.hpp"
#include "sim/strategies/emit_iteration.hpp"
#include "sim/strategies/registry.hpp"
#include "sim/strategies/scheduled_pipeline.hpp"
#include "sim/strategies/standard_layer.hpp"

namespace moesim::strategies {
namespace {

struct TedOptions {
  bool dtd = true;
  bool cac = true;
  bool ac = true;
};

/// DeepSpeed-TED's token options: DeepSpeed's (E, C, M) dispatch, DTD's drop with tp > 1.
TokenPlanOptions ted_token_options(const TrainingJob& job, TedOptions ted) {
  TokenPlanOptions o;
  o.pad_to_capacity = true;  // DeepSpeed's (E, C, M) dispatch
  o.split_tokens_over_tp = ted.dtd && job.layout.tp > 1;
  return o;
}

/// CAC's recomputed core: the experts only, on the all-to-alls' outputs kept from the forward.
class SavedExchangeCore final : public MoeCore {
 public:
  explicit SavedExchangeCore(EmissionContext& ctx) : ctx_(ctx) {}
  void forward(const Step& s, const MoeLayerPlan& p) override {
    for (RankId r : *s.ranks)
      ctx_.emit_experts(s, r, p.expert_tokens[r.index()], Phase::forward, ctx_.compute());
  }
  void backward(const Step& s, const MoeLayerPlan& p) override {
    (void)s;
    (void)p;
    MOESIM_CHECK(false, "deepspeed-ted: a recomputation has no backward");
  }

 private:
  EmissionContext& ctx_;
};

/// TED's MoE block: with TP-sharded experts (esp = tp > 1) TED's own sequence (DTD drops and
/// gathers, the experts' TP all-reduce); otherwise DeepSpeed-MoE's block.
class TedMoeBlock final : public MoeBlockSchedule {
 public:
  TedMoeBlock(EmissionContext& ctx, TedOptions ted)
      : ctx_(ctx),
        ted_(ted),
        sharded_(ctx.job().layout.tp > 1 && ctx.job().layout.esp == ctx.job().layout.tp),
        serial_(ctx),
        saved_(ctx),
        deepspeed_(ctx, serial_),
        deepspeed_saved_(ctx, saved_) {}

  void forward(const Step& s) override { emit_forward(s, false); }
  void backward(const Step& s) override;
  /// The forward again, at the start of the layer's backward (activation checkpointing); with
  /// CAC without its all-to-alls.
  void recompute_forward(const Step& s) { emit_forward(s, true); }

 private:
  void emit_forward(const Step& s, bool recomputing);
  /// Tokens each local expert shard of `r` computes: everything its EP group routed to the
  /// expert, once (with DTD the TP all-gather reassembles the T dropped parts; without it every
  /// TP rank received the same full set, so the ESP-style plan counts it T times).
  std::vector<std::int64_t> expert_tokens(const MoeLayerPlan& p, RankId r) const {
    std::vector<std::int64_t> t = p.expert_tokens[r.index()];
    if (!p.split_over_tp) {
      for (auto& n : t) n /= ctx_.job().layout.tp;
    }
    return t;
  }

  /// Expert output per rank (the TP all-reduce's buffer): all slots of the local experts.
  std::int64_t expert_output_bytes(const MoeLayerPlan& p) const {
    std::int64_t slots = 0;
    for (std::int64_t n : expert_tokens(p, ctx_.job().mapping.stage_ranks(0).front())) slots += n;
    return slots * ctx_.job().model.hidden * ctx_.elem_bytes();
  }

  /// DTD's drop: each TP rank keeps its 1/T of the capacity slots (a strided copy).
  void drop(const Step& s, const MoeLayerPlan& p) {
    if (!p.split_over_tp) return;
    const KernelOp slice =
        ctx_.ops().token_slice("drop_tokens", p.capacity * ctx_.job().model.experts);
    for (RankId r : *s.ranks) ctx_.kernel(*s.chain, r, slice.name, slice.task);
  }

  /// DTD's TP all-gather restoring all T parts (output = every slot).
  void gather(const Step& s, const MoeLayerPlan& p) {
    if (!p.split_over_tp) return;
    ctx_.group_collective(
        s, GroupKind::tp, "tp.gather_tokens", CommKind::all_gather, CommGroup::tp,
        Bytes{ctx_.permuted_slots(p) * ctx_.job().model.hidden * ctx_.elem_bytes()});
  }

  EmissionContext& ctx_;
  TedOptions ted_;
  bool sharded_;  ///< experts TP-sharded over the TP group (esp = tp > 1)
  DeepSpeedMoeCore serial_;
  SavedExchangeCore saved_;
  DeepSpeedMoeBlock deepspeed_;        ///< unsharded experts
  DeepSpeedMoeBlock deepspeed_saved_;  ///< unsharded experts, CAC recomputation
};

void TedMoeBlock::emit_forward(const Step& s, bool recomputing) {
  // With CAC the recomputation reads the all-to-alls' saved outputs instead of re-sending.
  const bool a2a = !(recomputing && ted_.cac);
  if (!sharded_) {
    // Unsharded experts (esp = 1) take DeepSpeed's path.
    (a2a ? deepspeed_ : deepspeed_saved_).forward(s);
    return;
  }
  const MoeLayerPlan& p = ctx_.plan(s.moe_index);
  const std::int64_t x = ctx_.tokens();
  const std::int64_t slots = ctx_.permuted_slots(p);
  for (RankId r : *s.ranks) {
    ctx_.emit_rank_work(s, r, ctx_.ops().gate_permute(Pass::forward, x, slots, p.kept[r.index()]),
                        ctx_.compute());
  }
  drop(s, p);
  if (a2a) {
    ctx_.emit_expert_exchange(s, p, false, recomputing ? "ep.dispatch.recompute" : "ep.dispatch",
                              ctx_.comm());
  }
  gather(s, p);
  for (RankId r : *s.ranks) {
    ctx_.emit_experts(s, r, expert_tokens(p, r), Phase::forward, ctx_.compute());
  }
  ctx_.group_collective(s, GroupKind::tp, "tp.expert.allreduce", CommKind::all_reduce,
                        CommGroup::tp, Bytes{expert_output_bytes(p)});
  drop(s, p);
  if (a2a) {
    ctx_.emit_expert_exchange(s, p, true, recomputing ? "ep.combine.recompute" : "ep.combine",
                              ctx_.comm());
  }
  gather(s, p);
  for (RankId r : *s.ranks) {
    ctx_.emit_rank_work(s, r, ctx_.ops().unpermute(Pass::forward, x, slots, p.kept[r.index()]),
                        ctx_.compute());
  }
  ctx_.emit_shared_experts_forward(s);
}

void TedMoeBlock::backward(const Step& s) {
  if (!sharded_) {
    deepspeed_.backward(s);
    return;
  }
  const MoeLayerPlan& p = ctx_.plan(s.moe_index);
  const std::int64_t x = ctx_.tokens();
  const std::int64_t slots = ctx_.permuted_slots(p);
  ctx_.emit_shared_experts_backward(s);
  for (RankId r : *s.ranks) {
    ctx_.emit_rank_work(s, r, ctx_.ops().unpermute(Pass::backward, x, slots, p.kept[r.index()]),
                        ctx_.compute());
  }
  drop(s, p);  // backward of the combine's all-gather
  ctx_.emit_expert_exchange(s, p, false, "ep.combine.bwd", ctx_.comm());
  gather(s, p);  // backward of the combine's drop
  for (RankId r : *s.ranks) {
    ctx_.emit_experts(s, r, expert_tokens(p, r), Phase::backward, ctx_.compute());
  }
  // Column-parallel GEMM1: the input gradient is a partial sum over the TP group.
  ctx_.group_collective(s, GroupKind::tp, "tp.expert.allreduce", CommKind::all_reduce,
                        CommGroup::tp, Bytes{expert_output_bytes(p)});
  drop(s, p);  // backward of the dispatch's all-gather
  ctx_.emit_expert_exchange(s, p, true, "ep.dispatch.bwd", ctx_.comm());
  gather(s, p);  // backward of the dispatch's drop
  for (RankId r : *s.ranks) {
    ctx_.emit_rank_work(s, r, ctx_.ops().gate_permute(Pass::backward, x, slots, p.kept[r.index()]),
                        ctx_.compute());
  }
}

/// Activation checkpointing: each layer's backward first recomputes its forward.
class TedRecompute final : public Recompute {
 public:
  TedRecompute(EmissionContext& ctx, TedMoeBlock& moe) : ctx_(ctx), moe_(moe) {}
  void before_backward(const Step& s) override {
    ctx_.emit_attention_forward(s);
    if (s.moe_index >= 0) {
      moe_.recompute_forward(s);
    } else {
      ctx_.emit_dense_ffn_forward(s);
    }
  }

 private:
  EmissionContext& ctx_;
  TedMoeBlock& moe_;
};

void record_ted_decisions(Decisions& decisions, const TrainingJob& job, TedOptions ted) {
  decisions["ted.dtd"] = ted.dtd
                             ? Decision::choice("on", job.layout.tp > 1 ? "" : "no effect, tp=1")
                             : Decision::choice("off");
  decisions["ted.activation_checkpointing"] = Decision::choice(ted.ac ? "on" : "off");
  decisions["ted.cac"] =
      ted.cac ? Decision::choice("on", ted.ac ? "" : "no effect, ac=off") : Decision::choice("off");
}

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
  /// The layouts it cannot build, refused before anything is built or printed.
  void check_job(const TrainingJob& job) const override {
    Strategy::check_job(job);
    if (job.layout.esp != job.layout.tp && job.layout.esp != 1) {
      throw input_error("", "--parallel",
                        fmt::format("{} shards every expert over the TP group (esp = tp) or not "
                                    "at all (esp = 1)",
                                    name_),
                        fmt::format("tp={} esp={}", job.layout.tp, job.layout.esp),
                        fmt::format("esp={} or esp=1", job.layout.tp));
    }
  }
  BuildResult build_iteration(const TrainingJob& job, const CostModels& costs) const override {
    check_job(job);
    EmissionContext ctx(job, costs, ted_token_options(job, options_));
    record_ted_decisions(ctx.decisions(), job, options_);
    TedMoeBlock moe(ctx, options_);
    TedRecompute recompute(ctx, moe);
    StandardLayer layer(ctx, moe, options_.ac ? &recompute : nullptr);
    ScheduledPipeline pipeline(ctx, layer, name());
    DdpGradientSync gradients(ctx, GradientSyncOptions{.overlap = false});
    return emit_iteration(ctx, pipeline, gradients);
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
