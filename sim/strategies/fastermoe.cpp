// fastermoe: FasterMoE's schedule (He et al., PPoPP 2022; laekov/fastmoe).
//  - Dropless dispatch with real counts: an all-gather of per-expert counts over the EP group,
//    then all-to-all-v exchanges.
//  - Dynamic expert shadowing, per MoE layer and iteration, with FasterMoE's latency-model policy
//    (shadow_policy.global_policy): experts sorted by global token count B desc; baseline
//    lat = 3 comp(B_max) + 4 feat(B_max); shadow expert i while
//    3 comp(B_(i+1)) + 4 feat(B_(i+1)) + i * send_model < best so far. Here comp(B) is the
//    CostModels duration of the expert FFN on B tokens, feat(B) = B'*M*bytes / (network bandwidth
//    estimated from a 64 MiB send_recv across the EP group) where B' are the expert's tokens from
//    other GPUs (its owner's own never cross the network; pricing all B put the planner 13% above
//    the simulated dispatch on 8 one-NIC nodes), send_model the estimated broadcast of
//    the expert's parameters over the EP group. A shadowed expert's parameters are broadcast from
//    its owner, every rank computes its own tokens for it, and its gradients are reduced back.
//  - Smart scheduling: the EP group is split into groups of G = 4 ranks (FMOE_FASTER_GROUP_SIZE
//    default); step s exchanges tokens with group (g + s) mod n_groups (step 0 = own group), so
//    the exchange of step s+1 overlaps the experts of step s; outputs return per step. Backward
//    mirrors it.
// Option shadow=on|off (default on): off keeps every expert at its owner, to ablate shadowing.
// The policy is FasterMoE's own, and like it prices one parameter broadcast per shadowed expert
// on an idle network; it ignores the gradient reduce in backward and that the broadcast sits in
// front of the first exchange on the communication stream. With large experts (Mixtral: 352 MB
// per expert in bf16) and skewed routing it can shadow where that costs more than it saves, as
// FasterMoE itself would; compare with fastermoe:shadow=off. comp(B) is the catalogue's expert
// forward (activation included); the probe and the broadcast run in every EP group of the stage
// at once, as they would in the iteration. comp(B) is priced alone (CostModels::duration): the
// policy is a latency formula, not a schedule, so it does not say which kernels start beside
// communication; in the emitted smart schedule a step's experts start alone when their own
// dispatch releases them (the next dispatch waits behind them) and beside the previous step's
// combine when they wait for the previous step's experts.
// Expert sharding (esp > 1) is not part of FasterMoE: rejected with an InputError. Tokens in a TP
// group are treated like DeepSpeed (split over tp when esp = 1 and tp > 1).
// All-to-all as FasterMoE runs it: ncclGroupStart, ncclSend/ncclRecv per peer with a count,
// ncclGroupEnd (laekov/fastmoe cuda/global_exchange.h fmoe_cuda_global_scatter_impl /
// _gather_impl): an all-to-all-v lowered as NCCL's direct exchange (PXN across rails).
#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "sim/core/errors.hpp"
#include "sim/strategies/ddp_gradient_sync.hpp"
#include "sim/strategies/deepspeed_moe_block.hpp"
#include "sim/strategies/emit_iteration.hpp"
#include "sim/strategies/registry.hpp"
#include "sim/strategies/scheduled_pipeline.hpp"
#include "sim/strategies/standard_layer.hpp"

namespace moesim::strategies {
namespace {

constexpr std::int64_t kGroupSize = 4;  // FMOE_FASTER_GROUP_SIZE default (laekov/fastmoe)

struct FasterPlan {
  std::vector<bool> shadowed;  ///< per expert
  std::int64_t steps = 1;
  /// [ep group][step] -> matrix of that step's exchange (shadowed experts excluded).
  std::vector<std::vector<std::shared_ptr<const ByteMatrix>>> step_dispatch;
  std::vector<std::vector<std::shared_ptr<const ByteMatrix>>> step_combine;
  /// [rank][step][local expert] -> tokens computed at that step.
  std::vector<std::vector<std::vector<std::int64_t>>> step_tokens;
  /// [rank][expert] -> own tokens of each shadowed expert (0 for others).
  std::vector<std::vector<std::int64_t>> shadow_tokens;
};

/// FasterMoE's MoE core: shadowed experts and the smart schedule's steps, planned per MoE layer
/// on first use.
class FasterMoeCore final : public MoeCore {
 public:
  FasterMoeCore(EmissionContext& ctx, bool shadowing) : ctx_(ctx), shadowing_(shadowing) {}

  void forward(const Step& s, const MoeLayerPlan& p) override { emit_core(s, p, Phase::forward); }
  void backward(const Step& s, const MoeLayerPlan& p) override { emit_core(s, p, Phase::backward); }

 private:
  std::int64_t step_of(std::int64_t from, std::int64_t to, std::int64_t steps) const {
    return ((to / kGroupSize - from / kGroupSize) % steps + steps) % steps;
  }

  // comp(B): the catalogue's expert FFN forward (GEMMs and activation) on B tokens.
  SimTime expert_cost(std::int64_t tokens) const {
    return kernel_time(ctx_.ops().expert(Pass::forward, tokens), ctx_.costs());
  }

  std::vector<bool> shadow_policy(const MoeLayerPlan& p) {
    const ModelSpec& m = ctx_.job().model;
    const std::int64_t experts = m.experts;
    std::vector<bool> shadowed(static_cast<std::size_t>(experts), false);
    const auto& group = ctx_.job().mapping.groups(GroupKind::ep).front();
    if (!shadowing_ || group.size() <= 1) return shadowed;
    // Global load per expert: every rank's kept tokens (duplicates across tp split already).
    std::vector<std::int64_t> load(static_cast<std::size_t>(experts), 0);
    for (const auto& row : p.kept) {
      for (std::int64_t e = 0; e < experts; ++e) {
        load[static_cast<std::size_t>(e)] += row[static_cast<std::size_t>(e)];
      }
    }
    // What reaches each expert over the network: its load less its owner's own tokens (those
    // stay on the GPU), so feat() prices the transfer that runs.
    std::vector<std::int64_t> remote = load;
    const std::int64_t local = ctx_.local_experts();
    for (const auto& g : ctx_.job().mapping.groups(GroupKind::ep)) {
      for (std::int64_t e = 0; e < experts; ++e) {
        const RankId owner = g[static_cast<std::size_t>(e / local)];
        remote[static_cast<std::size_t>(e)] -= p.kept[owner.index()][static_cast<std::size_t>(e)];
      }
    }
    // Loads are per EP group: divide by the number of EP groups that share the experts.
    const auto groups = static_cast<std::int64_t>(ctx_.job().mapping.groups(GroupKind::ep).size());
    for (auto& l : load) l /= groups;
    for (auto& l : remote) l /= groups;
    std::vector<std::int64_t> order(static_cast<std::size_t>(experts));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
      return load[static_cast<std::size_t>(a)] > load[static_cast<std::size_t>(b)];
    });
    // The network bandwidth a rank sees while every EP group of the stage exchanges at once
    // (one probe per group, together: on one-NIC nodes they share it).
    const std::int64_t probe = 64LL << 20;
    std::vector<CommOp> probes, broadcasts;
    const Bytes expert_bytes{m.expert_params() / ctx_.job().layout.esp * ctx_.elem_bytes()};
    for (const std::vector<RankId>* g : ctx_.stage_groups(GroupKind::ep, 0)) {
      probes.push_back(
          ctx_.op(CommKind::send_recv, CommGroup::ep, {g->front(), g->back()}, Bytes{probe}));
      broadcasts.push_back(ctx_.op(CommKind::broadcast, CommGroup::ep, *g, expert_bytes));
    }
    const SimTime probe_time = ctx_.costs().estimate_together(probes);
    const double bw = static_cast<double>(probe) / std::max(1e-12, probe_time.seconds());
    const auto feat = [&](std::int64_t b) {
      return SimTime::from_seconds(static_cast<double>(b * m.hidden * ctx_.elem_bytes()) / bw);
    };
    const SimTime send_model = ctx_.costs().estimate_together(broadcasts);
    const auto lat = [&](std::int64_t e) {
      return expert_cost(load[static_cast<std::size_t>(e)]).scaled(3.0) +
             feat(remote[static_cast<std::size_t>(e)]).scaled(4.0);
    };
    SimTime best = lat(order[0]);
    SimTime shadow_time = SimTime::zero();
    for (std::size_t i = 0; i + 1 < order.size(); ++i) {
      shadow_time += send_model;
      const SimTime next = lat(order[i + 1]) + shadow_time;
      if (!(next < best)) break;
      best = next;
      shadowed[static_cast<std::size_t>(order[i])] = true;
    }
    if (p.moe_index == 0) {
      // The terms of the latency it chose: the heaviest expert left at its owner.
      const auto kept =
          static_cast<std::size_t>(std::count(shadowed.begin(), shadowed.end(), true));
      const auto e = static_cast<std::size_t>(kept < order.size() ? order[kept] : order.back());
      ctx_.decisions()["fastermoe.expert_estimate"] = Decision::quantity(
          expert_cost(load[e]).us(), "us",
          fmt::format("comp(B), MoE layer 0's heaviest unshadowed expert, B = {} tokens", load[e]));
      ctx_.decisions()["fastermoe.a2a_estimate"] = Decision::quantity(
          feat(remote[e]).us(), "us",
          fmt::format("feat: its {} tokens from other GPUs at the probed bandwidth", remote[e]));
    }
    return shadowed;
  }

  const FasterPlan& faster_plan(const MoeLayerPlan& p) {
    auto it = plans_.find(p.moe_index);
    if (it != plans_.end()) return it->second;
    const ModelSpec& m = ctx_.job().model;
    const std::int64_t local = ctx_.local_experts();
    const std::int64_t token_bytes = m.hidden * ctx_.elem_bytes();
    FasterPlan f;
    f.shadowed = shadow_policy(p);
    const auto& groups = ctx_.job().mapping.groups(GroupKind::ep);
    const auto n = static_cast<std::int64_t>(groups.front().size());
    f.steps = (n + kGroupSize - 1) / kGroupSize;
    const auto world = static_cast<std::size_t>(ctx_.job().layout.world());
    f.step_tokens.assign(world, std::vector<std::vector<std::int64_t>>(
                                    static_cast<std::size_t>(f.steps),
                                    std::vector<std::int64_t>(static_cast<std::size_t>(local), 0)));
    f.shadow_tokens.assign(world,
                           std::vector<std::int64_t>(static_cast<std::size_t>(m.experts), 0));
    for (const auto& g : groups) {
      auto& disp = f.step_dispatch.emplace_back();
      auto& comb = f.step_combine.emplace_back();
      std::vector<std::shared_ptr<ByteMatrix>> d(static_cast<std::size_t>(f.steps));
      std::vector<std::shared_ptr<ByteMatrix>> c(static_cast<std::size_t>(f.steps));
      for (auto& x : d) x = std::make_shared<ByteMatrix>(g.size());
      for (auto& x : c) x = std::make_shared<ByteMatrix>(g.size());
      for (std::int64_t i = 0; i < n; ++i) {
        const auto& kept = p.kept[g[static_cast<std::size_t>(i)].index()];
        for (std::int64_t e = 0; e < m.experts; ++e) {
          const std::int64_t t = kept[static_cast<std::size_t>(e)];
          if (f.shadowed[static_cast<std::size_t>(e)]) {
            f.shadow_tokens[g[static_cast<std::size_t>(i)].index()][static_cast<std::size_t>(e)] =
                t;
            continue;
          }
          const std::int64_t j = e / local;
          const std::int64_t s = step_of(i, j, f.steps);
          auto& dm = *d[static_cast<std::size_t>(s)];
          dm.set(static_cast<std::size_t>(i), static_cast<std::size_t>(j),
                 dm.at(static_cast<std::size_t>(i), static_cast<std::size_t>(j)) + t * token_bytes);
          f.step_tokens[g[static_cast<std::size_t>(j)].index()][static_cast<std::size_t>(s)]
                       [static_cast<std::size_t>(e % local)] += t;
        }
      }
      for (std::int64_t s = 0; s < f.steps; ++s) {
        for (std::size_t i = 0; i < g.size(); ++i) {
          for (std::size_t j = 0; j < g.size(); ++j) {
            c[static_cast<std::size_t>(s)]->set(j, i, d[static_cast<std::size_t>(s)]->at(i, j));
          }
        }
        disp.push_back(d[static_cast<std::size_t>(s)]);
        comb.push_back(c[static_cast<std::size_t>(s)]);
      }
    }
    std::string list;
    for (std::int64_t e = 0; e < m.experts; ++e) {
      if (f.shadowed[static_cast<std::size_t>(e)])
        list += fmt::format("{}{}", list.empty() ? "" : ",", e);
    }
    if (!list.empty()) {
      ctx_.decisions()[fmt::format("fastermoe.shadowed.moe{}", p.moe_index)] =
          Decision::choice(list, "shadowed experts of this MoE layer");
    }
    shadowed_total_ +=
        static_cast<std::int64_t>(std::count(f.shadowed.begin(), f.shadowed.end(), true));
    ctx_.decisions()["fastermoe.shadowed_experts"] =
        Decision::count(shadowed_total_, "", "summed over MoE layers; per layer where any");
    ctx_.decisions()["fastermoe.steps"] = Decision::count(f.steps, "", "smart-schedule steps");
    return plans_.emplace(p.moe_index, std::move(f)).first->second;
  }

  void exchange(const Step& s, const FasterPlan& f, bool combine, std::int64_t step,
                std::string_view name) {
    for (const std::vector<RankId>* g : ctx_.stage_groups(GroupKind::ep, s.stage)) {
      if (g->size() <= 1) continue;
      const std::size_t gi = ctx_.ep_group_index(g->front());
      CommOp o = ctx_.op(CommKind::all_to_all_v, CommGroup::ep, *g, Bytes{});
      o.matrix = (combine ? f.step_combine : f.step_dispatch)[gi][static_cast<std::size_t>(step)];
      o.bytes = all_to_all_v_size(*o.matrix);
      ctx_.collective(*s.chain, name, std::move(o), ctx_.comm());
    }
  }

  void emit_core(const Step& s, const MoeLayerPlan& p, Phase phase) {
    const ModelSpec& m = ctx_.job().model;
    const FasterPlan& f = faster_plan(p);
    const bool forward = phase == Phase::forward;
    const std::int64_t param_bytes = m.expert_params() / ctx_.job().layout.esp * ctx_.elem_bytes();
    const std::int64_t local = ctx_.local_experts();
    if (forward) {
      // Counts for the all-to-all-v splits and the shadowing decision.
      ctx_.group_collective(s, GroupKind::ep, "ep.counts", CommKind::all_gather, CommGroup::ep,
                            Bytes{ctx_.job().layout.ep * m.experts * 8});
    }
    const auto world = static_cast<std::size_t>(ctx_.job().layout.world());
    std::vector<std::vector<TaskId>> start(world);
    for (RankId r : *s.ranks) start[r.index()] = (*s.chain)[r];

    // Shadowed experts: parameters from the owner (forward), local compute on own tokens.
    std::vector<std::vector<TaskId>> shadow_ready(world);
    for (std::int64_t e = 0; e < m.experts; ++e) {
      if (!f.shadowed[static_cast<std::size_t>(e)]) continue;
      for (const std::vector<RankId>* g : ctx_.stage_groups(GroupKind::ep, s.stage)) {
        if (!forward || g->size() <= 1) continue;
        CommOp o = ctx_.op(CommKind::broadcast, CommGroup::ep, *g, Bytes{param_bytes});
        o.root = (*g)[static_cast<std::size_t>(e / local)];
        ctx_.collective(*s.chain, "shadow.broadcast", std::move(o), ctx_.comm());
      }
      for (RankId r : *s.ranks) {
        const std::int64_t t = f.shadow_tokens[r.index()][static_cast<std::size_t>(e)];
        ctx_.emit_experts(s, r, {t}, phase, ctx_.compute());
        shadow_ready[r.index()] = (*s.chain)[r];
        (*s.chain)[r] = start[r.index()];
      }
      if (!forward) {
        for (RankId r : *s.ranks) (*s.chain)[r] = shadow_ready[r.index()];
        for (const std::vector<RankId>* g : ctx_.stage_groups(GroupKind::ep, s.stage)) {
          if (g->size() <= 1) continue;
          CommOp o = ctx_.op(CommKind::reduce, CommGroup::ep, *g, Bytes{param_bytes});
          o.root = (*g)[static_cast<std::size_t>(e / local)];
          ctx_.collective(*s.chain, "shadow.grad.reduce", std::move(o), ctx_.comm());
        }
        for (RankId r : *s.ranks) {
          shadow_ready[r.index()] = (*s.chain)[r];
          (*s.chain)[r] = start[r.index()];
        }
      }
    }

    // Smart schedule: D0; then per step s: D(s+1), experts(s), C(s).
    const std::string_view d_name = forward ? "ep.dispatch" : "ep.combine.bwd";
    const std::string_view c_name = forward ? "ep.combine" : "ep.dispatch.bwd";
    std::vector<std::vector<std::vector<TaskId>>> arrived(static_cast<std::size_t>(f.steps),
                                                          std::vector<std::vector<TaskId>>(world));
    const auto dispatch_step = [&](std::int64_t st) {
      for (RankId r : *s.ranks) (*s.chain)[r] = start[r.index()];
      exchange(s, f, false, st, d_name);
      for (RankId r : *s.ranks) arrived[static_cast<std::size_t>(st)][r.index()] = (*s.chain)[r];
    };
    dispatch_step(0);
    std::vector<std::vector<TaskId>> last_combine(world);
    for (std::int64_t st = 0; st < f.steps; ++st) {
      if (st + 1 < f.steps) dispatch_step(st + 1);
      for (RankId r : *s.ranks) {
        (*s.chain)[r] = arrived[static_cast<std::size_t>(st)][r.index()];
        ctx_.emit_experts(s, r, f.step_tokens[r.index()][static_cast<std::size_t>(st)], phase,
                          ctx_.compute());
      }
      exchange(s, f, true, st, c_name);
      for (RankId r : *s.ranks) last_combine[r.index()] = (*s.chain)[r];
    }
    for (RankId r : *s.ranks) {
      auto& fr = (*s.chain)[r];
      fr = last_combine[r.index()];
      for (TaskId t : shadow_ready[r.index()]) fr.push_back(t);
    }
  }

  EmissionContext& ctx_;
  bool shadowing_ = true;
  std::map<std::int64_t, FasterPlan> plans_;
  std::int64_t shadowed_total_ = 0;
};

class FasterMoe final : public Strategy {
 public:
  FasterMoe(std::string name, bool shadowing) : name_(std::move(name)), shadowing_(shadowing) {}
  std::string_view name() const override { return name_; }
  std::string_view summary() const override {
    return "FasterMoE: group-wise smart scheduling of dropless all-to-all-v + dynamic expert "
           "shadowing by its latency model";
  }
  /// The layouts it cannot build, refused before anything is built or printed.
  void check_job(const TrainingJob& job) const override {
    Strategy::check_job(job);
    if (job.layout.esp != 1) {
      throw input_error("", "--parallel", "fastermoe does not shard experts",
                        fmt::format("esp={}", job.layout.esp), "esp=1");
    }
  }
  BuildResult build_iteration(const TrainingJob& job, const CostModels& costs) const override {
    check_job(job);
    EmissionContext::Options options;
    options.pad_to_capacity = false;
    options.apply_capacity = false;  // FastMoE has no capacity: every routed token is computed
    options.split_tokens_over_tp = job.layout.tp > 1;
    EmissionContext ctx(job, costs, options);
    // Planned per MoE layer when the layer is first emitted (shadowing, steps).
    FasterMoeCore core(ctx, shadowing_);
    DeepSpeedMoeBlock moe(ctx, core);
    StandardLayer layer(ctx, moe);
    ScheduledPipeline pipeline(ctx, layer, name());
    DdpGradientSync gradients(ctx, GradientSyncOptions{.overlap = false});
    return emit_iteration(ctx, pipeline, gradients);
  }

 private:
  std::string name_;
  bool shadowing_ = true;
};

}  // namespace

std::unique_ptr<Strategy> make_fastermoe() {
  return std::make_unique<FasterMoe>("fastermoe", true);
}

std::unique_ptr<Strategy> configure_fastermoe(StrategyOptions& options) {
  const bool shadowing = options.get_bool("shadow", true);
  std::string name = "fastermoe";
  if (!options.empty()) name += ":" + options.text();
  return std::make_unique<FasterMoe>(std::move(name), shadowing);
}

}  // namespace moesim::strategies
