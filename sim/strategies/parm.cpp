// parm, parm-s1, parm-s2: Parm's dedicated schedules for MP+EP+ESP training (Pan et al.,
// "Efficient Training of Large Sparsely-Activated Models with Dedicated Schedules",
// INFOCOM 2024, arXiv 2407.00599).
//
// Reconstruction [R]: the paper's method section was not readable; the op
// placement of S1 and S2 and the alpha-beta selection rule are reconstructed from its abstract.
//
// Layout: N_MP = N_ESP = g (the tp group is the esp group, inside a node), EP across nodes. The
// DeepSpeed-MoE baseline keeps the tokens duplicated in the MP group: every MP rank dispatches the
// same tokens and the ESP all-gather hands each expert shard g copies (deepspeed_moe.cpp). Parm
// pauses MP inside the MoE block ("PauseMP"):
//   S1: MP-Split (each tp rank keeps its 1/g of the tokens; a local slice) -> gate/order on x/g
//       tokens -> EP all-to-all (S_disp/g) -> ESP all-gather -> experts (no duplicates) -> ESP
//       reduce-scatter -> EP all-to-all -> I-order -> MP-AllGather (x*M*b). Backward mirrors it;
//       the MP-AllGather's backward is a slice and the MP-Split's backward an MP-AllGather of the
//       input gradient.
//   S2: PauseMP + one unified collective: a single all-to-all-v over the EP x ESP group in
//       which each token crosses the network once, to the member with its sender's esp index on
//       the expert's EP position (S1's EP traffic), and that member hands the tokens of its
//       experts to the other g - 1 shard holders (the ESP all-gather's traffic, inside the node)
//       in the same operation, so the intra- and inter-node flows progress concurrently; experts;
//       one all-to-all-v back whose g partial outputs per token meet at the relaying member and
//       are summed there (a reduction kernel). S2 moves S1's bytes but replaces two dependent
//       collectives by one with (ep x g - 1) peers, so it wins when the intra- and inter-node
//       parts are both large, S1 when per-peer latency dominates. [R]: one operation without
//       the relay's own dependency (a token is forwarded only once it arrived), and the sum
//       after the exchange rather than before the inter-node hop.
//   parm: per MoE layer, the schedule with the smaller alpha-beta estimate. Each collective is
//       costed with CostModels (the simulator's own models) with every group of the stage
//       running it at once, and each exchange is priced as the block emits it (S1: the EP
//       all-to-all of DeepSpeed's core, EmissionContext::exchange_ops; S2: the unified
//       all-to-all-v of every EP x ESP group, unified_ops), so the intra- and inter-node flows
//       of one operation share links as the executor charges them. Expert compute is the
//       catalogue's (layer_ops.hpp); the reduction and the MP-AllGathers come from the same models.
//       Kernels are priced alone: S1 and S2 run the MoE block in series, so no kernel of theirs
//       starts beside the block's collectives (DDP's gradient buckets may run beside the
//       backward; they are the gradient sync's, not the schedule's, and the same for S1 and S2).
// Decisions: parm.schedule ("S1", "S2" or "mixed: ..."), parm.policy, parm.estimate.S1/S2 of the
// first MoE layer, parm.schedule.moe<i> per layer when the layers differ.
// All-to-all: taken to be NCCL's (a reconstruction: Parm's code was not available), lowered as
// NCCL's direct exchange, whose intra- and inter-node flows run at once.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>

#include "sim/strategies/ddp_gradient_sync.hpp"
#include "sim/strategies/deepspeed_moe_block.hpp"
#include "sim/strategies/emit_iteration.hpp"
#include "sim/strategies/registry.hpp"
#include "sim/strategies/scheduled_pipeline.hpp"
#include "sim/strategies/standard_layer.hpp"

namespace moesim::strategies {
namespace {

enum class Schedule : std::uint8_t { s1, s2 };
enum class Policy : std::uint8_t { s1, s2, alpha_beta };

std::string_view to_string(Schedule s) { return s == Schedule::s1 ? "S1" : "S2"; }

/// The planner's estimate of one schedule for one MoE layer (forward + backward).
struct ScheduleEstimate {
  SimTime exchange = SimTime::zero();  ///< EP / unified exchanges
  SimTime esp = SimTime::zero();       ///< ESP all-gathers and reduce-scatters (S1)
  SimTime mp = SimTime::zero();        ///< MP-AllGathers
  SimTime compute = SimTime::zero();   ///< experts (+ S2's reductions)
  SimTime total() const { return exchange + esp + mp + compute; }
};

/// Parm's MoE block: PauseMP around S1 (DeepSpeed's core) or S2 (the unified EP x ESP
/// exchange), the schedule chosen per MoE layer by plan().
class ParmMoeBlock final : public MoeBlockSchedule {
 public:
  ParmMoeBlock(EmissionContext& ctx, Policy policy) : ctx_(ctx), serial_(ctx), policy_(policy) {
    const TrainingJob& job = ctx.job();
    // EP x ESP groups: the ranks of a stage with the same edp index, in rank order.
    std::map<std::pair<std::int32_t, std::int32_t>, std::size_t> index;
    stage_unified_.resize(static_cast<std::size_t>(job.layout.pp));
    for (std::uint32_t r = 0; r < job.mapping.rank_count(); ++r) {
      const RankCoords& c = job.mapping.coords(RankId{r});
      auto [it, fresh] = index.try_emplace({c.pp, c.edp}, unified_.size());
      if (fresh) {
        unified_.emplace_back();
        stage_unified_[static_cast<std::size_t>(c.pp)].push_back(it->second);
      }
      unified_[it->second].push_back(RankId{r});
    }
    plan();
  }

  static TokenPlanOptions options() {
    TokenPlanOptions o;
    // Parm builds on DeepSpeed-MoE's capacity-padded dispatch (dropless models: padded to the
    // largest count), so every exchange is a uniform all-to-all.
    o.pad_to_capacity = true;
    o.split_tokens_over_tp = true;  // PauseMP: each MP rank routes only its 1/g of the tokens
    return o;
  }

  Schedule schedule_of(std::int64_t moe_index) const {
    return schedule_[static_cast<std::size_t>(moe_index)];
  }

  void forward(const Step& s) override {
    const MoeLayerPlan& p = ctx_.plan(s.moe_index);
    // MP-Split is a view of the rank's slice: no kernel, no communication.
    for (RankId r : *s.ranks) {
      ctx_.emit_rank_work(s, r,
                          ctx_.ops().gate_permute(Pass::forward, split_tokens(r), rank_slots(p, r),
                                                  p.kept[r.index()]),
                          ctx_.compute());
    }
    if (schedule_of(s.moe_index) == Schedule::s1) {
      serial_.forward(s, p);  // EP all-to-all, ESP all-gather, experts, ESP RS, all-to-all
    } else {
      emit_unified(s, p, "parm.dispatch", false);
      for (RankId r : *s.ranks) {
        ctx_.emit_experts(s, r, p.expert_tokens[r.index()], Phase::forward, ctx_.compute());
      }
      emit_unified(s, p, "parm.combine", true);
      for (RankId r : *s.ranks)
        ctx_.kernel(*s.chain, r, "parm.combine.reduce", reduce_kernel(p, r));
    }
    for (RankId r : *s.ranks) {
      ctx_.emit_rank_work(
          s, r,
          ctx_.ops().unpermute(Pass::forward, split_tokens(r), rank_slots(p, r), p.kept[r.index()]),
          ctx_.compute());
    }
    ctx_.group_collective(s, GroupKind::tp, "mp.allgather", CommKind::all_gather, CommGroup::tp,
                          Bytes{mp_gather_bytes()});
    ctx_.emit_shared_experts_forward(s);
  }

  void backward(const Step& s) override {
    const MoeLayerPlan& p = ctx_.plan(s.moe_index);
    ctx_.emit_shared_experts_backward(s);
    // The MP-AllGather's backward takes the rank's slice of the (replicated) output gradient.
    for (RankId r : *s.ranks) {
      ctx_.emit_rank_work(s, r,
                          ctx_.ops().unpermute(Pass::backward, split_tokens(r), rank_slots(p, r),
                                               p.kept[r.index()]),
                          ctx_.compute());
    }
    if (schedule_of(s.moe_index) == Schedule::s1) {
      serial_.backward(s, p);
    } else {
      // Output gradients go to every shard holder (dispatch-shaped); the input gradients come
      // back as g partial sums per token (combine-shaped) and are reduced locally.
      emit_unified(s, p, "parm.combine.bwd", false);
      for (RankId r : *s.ranks) {
        ctx_.emit_experts(s, r, p.expert_tokens[r.index()], Phase::backward, ctx_.compute());
      }
      emit_unified(s, p, "parm.dispatch.bwd", true);
      for (RankId r : *s.ranks)
        ctx_.kernel(*s.chain, r, "parm.dispatch.reduce", reduce_kernel(p, r));
    }
    for (RankId r : *s.ranks) {
      ctx_.emit_rank_work(s, r,
                          ctx_.ops().gate_permute(Pass::backward, split_tokens(r), rank_slots(p, r),
                                                  p.kept[r.index()]),
                          ctx_.compute());
    }
    // The MP-Split's backward: all-gather the input gradient so every MP rank holds all of it.
    ctx_.group_collective(s, GroupKind::tp, "mp.allgather.bwd", CommKind::all_gather, CommGroup::tp,
                          Bytes{mp_gather_bytes()});
  }

 private:
  /// Picks S1 or S2 per MoE layer and records the decisions (a constructed
  /// block is a planned one).
  void plan() {
    const std::int64_t layers = ctx_.job().model.moe_layer_count();
    schedule_.assign(static_cast<std::size_t>(layers), Schedule::s1);
    ctx_.decisions()["parm.policy"] =
        policy_ == Policy::alpha_beta ? Decision::choice("alpha-beta", "min of S1, S2 per layer")
                                      : Decision::choice("forced");
    std::int64_t s2_layers = 0;
    for (std::int64_t l = 0; l < layers; ++l) {
      const MoeLayerPlan& p = ctx_.plan(l);
      const ScheduleEstimate s1 = estimate(p, Schedule::s1);
      const ScheduleEstimate s2 = estimate(p, Schedule::s2);
      Schedule pick = Schedule::s1;
      if (policy_ == Policy::s2 || (policy_ == Policy::alpha_beta && s2.total() < s1.total())) {
        pick = Schedule::s2;
      }
      schedule_[static_cast<std::size_t>(l)] = pick;
      if (pick == Schedule::s2) ++s2_layers;
      if (l == 0) {
        for (const auto& [name, e] : {std::pair{"S1", s1}, std::pair{"S2", s2}}) {
          ctx_.decisions()[fmt::format("parm.estimate.{}", name)] = Decision::quantity(
              e.total().us(), "us",
              fmt::format("MoE layer 0 fwd+bwd: exchange {:.1f}, esp {:.1f}, mp {:.1f}, compute "
                          "{:.1f} us",
                          e.exchange.us(), e.esp.us(), e.mp.us(), e.compute.us()));
          ctx_.decisions()[fmt::format("parm.estimate.{}.exchange", name)] =
              Decision::quantity(e.exchange.us(), "us", "MoE layer 0 fwd+bwd exchanges");
          ctx_.decisions()[fmt::format("parm.estimate.{}.compute", name)] =
              Decision::quantity(e.compute.us(), "us", "MoE layer 0 experts fwd+bwd, slowest rank");
        }
      }
    }
    if (layers == 0) {
      ctx_.decisions()["parm.schedule"] = Decision::choice("n/a", "no MoE layer");
    } else if (s2_layers == 0 || s2_layers == layers) {
      ctx_.decisions()["parm.schedule"] =
          Decision::choice(std::string(to_string(schedule_.front())));
    } else {
      ctx_.decisions()["parm.schedule"] = Decision::choice(
          "mixed", fmt::format("S1 on {} layers, S2 on {}", layers - s2_layers, s2_layers));
      for (std::int64_t l = 0; l < layers; ++l) {
        ctx_.decisions()[fmt::format("parm.schedule.moe{}", l)] =
            Decision::choice(std::string(to_string(schedule_[static_cast<std::size_t>(l)])));
      }
    }
  }

  std::int64_t split_tokens(RankId r) const {
    return split_share(ctx_.tokens(), ctx_.job().layout.tp, ctx_.job().mapping.coords(r).tp);
  }

  /// MP-AllGather output per rank: NCCL needs equal parts, the largest slice sets them.
  std::int64_t mp_gather_bytes() const {
    const std::int64_t tp = ctx_.job().layout.tp;
    return (ctx_.tokens() + tp - 1) / tp * tp * ctx_.job().model.hidden * ctx_.elem_bytes();
  }

  /// Slots the rank's order kernel produces (and its dispatch sends).
  std::int64_t rank_slots(const MoeLayerPlan& p, RankId r) const {
    (void)r;  // capacity-padded: the same on every rank
    return ctx_.job().model.experts * p.capacity;
  }

  /// S2's local sum of the esp partial outputs of each of the rank's slots.
  ComputeTask reduce_kernel(const MoeLayerPlan& p, RankId r) const {
    const std::int64_t esp = ctx_.job().layout.esp;
    const std::int64_t slots = rank_slots(p, r);
    const std::int64_t hid = ctx_.job().model.hidden;
    ComputeTask t = ctx_.ops().memory_kernel(KernelKind::elementwise, slots, hid,
                                             (esp + 1) * slots * hid * ctx_.elem_bytes(),
                                             static_cast<double>((esp - 1) * slots * hid));
    // A plain sum: the same kernel in either pass, lowered as a forward element-wise add.
    t.op.direction = OpDirection::forward;
    return t;
  }

  /// Bytes g[i] sends to g[j] in one dispatch-shaped exchange over the EP x ESP group `g`
  /// (capacity-padded, so the same in every group). S1's EP all-to-all moves a member's tokens
  /// for the destination's experts (local x C slots) between members with the same esp index
  /// only. S2's unified collective sends the same single copy across the network and, in the
  /// same operation, has each receiver hand what it holds for its own experts (from every EP
  /// position, itself included: ep x local x C slots) to the other shard holders of those experts
  /// (same ep index, other esp index; inside the node in Parm's layout), so a token crosses the
  /// NIC once, not g times [R].
  ByteMatrix exchange_matrix(const MoeLayerPlan& p, const std::vector<RankId>& g,
                             Schedule sched) const {
    const std::size_t n = g.size();
    const std::int64_t slot_bytes = ctx_.job().model.hidden * ctx_.elem_bytes();
    const std::int64_t own = ctx_.local_experts() * p.capacity * slot_bytes;
    const std::int64_t relayed = ctx_.job().layout.ep * own;
    ByteMatrix out(n);
    for (std::size_t i = 0; i < n; ++i) {
      const RankCoords& from = ctx_.job().mapping.coords(g[i]);
      for (std::size_t j = 0; j < n; ++j) {
        const RankCoords& to = ctx_.job().mapping.coords(g[j]);
        if (from.esp == to.esp) {
          out.set(i, j, own);
        } else if (sched == Schedule::s2 && from.ep == to.ep) {
          out.set(i, j, relayed);
        }
      }
    }
    return out;
  }

  static ByteMatrix transposed(const ByteMatrix& m) {
    ByteMatrix t(m.size());
    for (std::size_t i = 0; i < m.size(); ++i) {
      for (std::size_t j = 0; j < m.size(); ++j) t.set(j, i, m.at(i, j));
    }
    return t;
  }

  /// S2's unified exchange over every EP x ESP group of `stage`, as the block runs it:
  /// dispatch-shaped (the dispatch, the backward's output gradients) or, with `combine`, its
  /// transpose (the g partial outputs of each token go back to the member that relayed it, which
  /// sums them after). One all-to-all-v per group; emission and the planner's estimate both take
  /// these ops, so the planner prices what the executor runs.
  std::vector<CommOp> unified_ops(const MoeLayerPlan& p, std::int64_t stage, bool combine) const {
    std::vector<CommOp> ops;
    for (std::size_t gi : stage_unified_[static_cast<std::size_t>(stage)]) {
      const std::vector<RankId>& g = unified_[gi];
      if (g.size() <= 1) continue;
      const ByteMatrix d = exchange_matrix(p, g, Schedule::s2);
      auto matrix = std::make_shared<ByteMatrix>(combine ? transposed(d) : d);
      CommOp o = ctx_.op(CommKind::all_to_all_v, CommGroup::ep, g, Bytes{});
      o.bytes = all_to_all_v_size(*matrix);
      o.matrix = std::move(matrix);
      ops.push_back(std::move(o));
    }
    return ops;
  }

  void emit_unified(const Step& s, const MoeLayerPlan& p, std::string_view name, bool combine) {
    for (CommOp& o : unified_ops(p, s.stage, combine)) {
      ctx_.collective(*s.chain, name, std::move(o), ctx_.comm());
    }
  }

  // --- the alpha-beta model ---

  /// The catalogue's experts forward and backward on `tokens_per_expert`.
  SimTime expert_estimate(const std::vector<std::int64_t>& tokens_per_expert, RankId r) const {
    return kernel_time(ctx_.ops().experts(Pass::forward, tokens_per_expert), ctx_.costs(), r) +
           kernel_time(ctx_.ops().experts(Pass::backward, tokens_per_expert), ctx_.costs(), r);
  }

  ScheduleEstimate estimate(const MoeLayerPlan& p, Schedule sched) const {
    ScheduleEstimate e;
    const auto& ranks = ctx_.job().mapping.stage_ranks(0);
    // Experts: the slowest rank (routing may be uneven); identical for S1 and S2.
    for (RankId r : ranks) {
      e.compute = std::max(e.compute, expert_estimate(p.expert_tokens[r.index()], r));
    }
    e.mp = ctx_.costs()
               .estimate_together(ctx_.group_ops(0, GroupKind::tp, CommKind::all_gather,
                                                 CommGroup::tp, Bytes{mp_gather_bytes()}))
               .scaled(2);
    const std::vector<RankId>& g = unified_[stage_unified_.front().front()];
    const ByteMatrix d = exchange_matrix(p, g, sched);
    // Forward: dispatch-shaped then combine-shaped; backward the same pair again. Each
    // exchange is priced as the block runs it, every group of the stage at once: S1's EP
    // all-to-all as DeepSpeed's core emits it (EmissionContext::exchange_ops), S2's unified
    // exchange as one all-to-all-v per EP x ESP group (unified_ops). Before, both were priced
    // as an all-to-all-v over the EP x ESP group split into its intra- and inter-node parts,
    // max(intra, inter): S2 came out 18% under the executor's charge on 4 pcie3-8gpu-100g nodes
    // (parm-real-models), where the relaying GPU's PCIe carries both parts at once, and S1 was
    // priced as a different collective (all-to-all-v) than the padded all-to-all it runs.
    if (sched == Schedule::s2) {
      e.exchange = (ctx_.costs().estimate_together(unified_ops(p, 0, false)) +
                    ctx_.costs().estimate_together(unified_ops(p, 0, true)))
                       .scaled(2);
    } else {
      e.exchange = (ctx_.costs().estimate_together(ctx_.exchange_ops(0, p, false)) +
                    ctx_.costs().estimate_together(ctx_.exchange_ops(0, p, true)))
                       .scaled(2);
    }
    if (sched == Schedule::s1) {
      if (ctx_.job().layout.esp > 1) {
        std::int64_t largest = 0;
        for (std::size_t j = 0; j < g.size(); ++j) largest = std::max(largest, d.received_by(j));
        const Bytes bytes{largest * ctx_.job().layout.esp};
        e.esp = (ctx_.costs().estimate_together(ctx_.group_ops(
                     0, GroupKind::esp, CommKind::all_gather, CommGroup::esp, bytes)) +
                 ctx_.costs().estimate_together(ctx_.group_ops(
                     0, GroupKind::esp, CommKind::reduce_scatter, CommGroup::esp, bytes)))
                    .scaled(2);
      }
    } else if (ctx_.job().layout.esp > 1) {
      SimTime reduce = SimTime::zero();
      for (RankId r : ranks) reduce = std::max(reduce, ctx_.costs().duration(reduce_kernel(p, r)));
      e.compute += reduce.scaled(2);
    }
    return e;
  }

  EmissionContext& ctx_;
  DeepSpeedMoeCore serial_;
  Policy policy_;
  std::vector<std::vector<RankId>> unified_;             // EP x ESP groups
  std::vector<std::vector<std::size_t>> stage_unified_;  // [stage] -> indices into unified_
  std::vector<Schedule> schedule_;                       // [moe index]
};

std::string_view base_name(Policy policy) {
  switch (policy) {
    case Policy::s1:
      return "parm-s1";
    case Policy::s2:
      return "parm-s2";
    case Policy::alpha_beta:
      break;
  }
  return "parm";
}

class Parm final : public Strategy {
 public:
  Parm(Policy policy, std::string name, GradientSyncOptions grad_sync)
      : policy_(policy), name_(std::move(name)), grad_sync_(grad_sync) {}
  std::string_view name() const override { return name_; }
  std::string_view summary() const override {
    switch (policy_) {
      case Policy::s1:
        return "Parm S1: PauseMP (MP-Split/MP-AllGather) around EP A2A + ESP AG/RS, no duplicates";
      case Policy::s2:
        return "Parm S2: PauseMP + one unified EP x ESP all-to-all (intra/inter concurrent)";
      case Policy::alpha_beta:
        break;
    }
    return "Parm: S1 or S2 per MoE layer by its alpha-beta model (MP+EP+ESP)";
  }
  BuildResult build_iteration(const TrainingJob& job, const CostModels& costs) const override {
    EmissionContext ctx(job, costs, ParmMoeBlock::options());
    ParmMoeBlock moe(ctx, policy_);  // plans S1 or S2 per MoE layer
    StandardLayer layer(ctx, moe);
    ScheduledPipeline pipeline(ctx, layer, name());
    DdpGradientSync gradients(ctx, grad_sync_);
    BuildResult out = emit_iteration(ctx, pipeline, gradients);
    if (job.layout.tp > 1) {
      out.decisions["moe.tokens_in_tp_group"] =
          Decision::choice("split", "PauseMP: MP-Split, MP-AllGather");
    }
    return out;
  }

 private:
  Policy policy_;
  std::string name_;
  GradientSyncOptions grad_sync_;
};

std::unique_ptr<Strategy> make(Policy policy) {
  return std::make_unique<Parm>(policy, std::string(base_name(policy)), GradientSyncOptions{});
}

std::unique_ptr<Strategy> configure(Policy policy, StrategyOptions& options) {
  const GradientSyncOptions grad_sync = read_gradient_sync(options, GradientSyncOptions{});
  std::string name(base_name(policy));
  if (!options.empty()) name += ":" + options.text();
  return std::make_unique<Parm>(policy, std::move(name), grad_sync);
}

}  // namespace

std::unique_ptr<Strategy> make_parm() { return make(Policy::alpha_beta); }
std::unique_ptr<Strategy> make_parm_s1() { return make(Policy::s1); }
std::unique_ptr<Strategy> make_parm_s2() { return make(Policy::s2); }
std::unique_ptr<Strategy> configure_parm(StrategyOptions& options) {
  return configure(Policy::alpha_beta, options);
}
std::unique_ptr<Strategy> configure_parm_s1(StrategyOptions& options) {
  return configure(Policy::s1, options);
}
std::unique_ptr<Strategy> configure_parm_s2(StrategyOptions& options) {
  return configure(Policy::s2, options);
}

}  // namespace moesim::strategies
