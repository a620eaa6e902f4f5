// tutel: Tutel's adaptive pipelining (Tutel, MLSys 2023): the dispatch all-to-all -> experts
// -> combine all-to-all path is split along the capacity dimension into d chunks, d in
// {1, 2, 4, 8} (a2a_ffn_overlap_degree), so that chunk i+1's all-to-all runs while chunk i's
// experts compute. The all-to-all is either linear (one NCCL all-to-all over the EP group) or 2DH
// (two-dimensional hierarchical: an intra-node all-to-all that aggregates by destination local
// rank, then an inter-node all-to-all among GPUs with the same local position). Tutel picks
// (d, algorithm) at run time by timing each candidate (Tutel, MLSys 2023, adaptive pipelining:
// the best of the options measured on the running job), the same d for forward and backward.
// Here, per MoE layer, either
//  - its cost evaluation on CostModels: for each candidate a two-queue schedule (comm queue:
//    D0..Dd-1 then C0..Cd-1; compute queue: E0..Ed-1) of the per-chunk estimates, forward +
//    backward; a chunk's experts that start while a collective runs are priced with the
//    executor's overlap contention (overlap_schedule.hpp), the others alone. This is what the
//    executor charges for the core (docs/planner-audit.md: 0.00%) unless DDP gradient buckets
//    run beside its backward exchanges, which an estimate of one layer cannot place in time;
//  - or, with choose=trials when the build has a TrialRunner (every moesim command), Tutel's own
//    method: one trial iteration per candidate (every layer at that candidate) on the executor,
//    each layer's core timed as the sum over its micro-batches and passes of its span on the
//    slowest rank of its stage (from when its first dispatch may start to its last combine's
//    end), the fastest candidate per layer kept. A reconstruction [R]: Tutel times a layer's
//    candidates over successive training iterations, with the other layers at their current
//    choice, not in one trial per candidate.
// The estimate is the default because the trials, measured, change little for their cost: on the
// FSMoE grid (1458 configurations, grad_sync=overlap) they pick another degree in 24 cases, each
// iteration at most 0.04% faster, and make the sweep 6.6x slower (11.5 -> 76 s); on the claims'
// jobs of docs/planner-audit.md the same choices or 0.11% faster, although the estimate misses
// the DDP buckets beside the backward exchanges by up to 20% (the ranking survives it).
// The expert estimate is the catalogue's expert FFN (layer_ops.hpp: GEMMs and activation, dX and
// dW in backward) on the slowest rank of the stage; a chunk's all-to-all is priced with every EP
// group of the stage running it at once (on one-NIC nodes they share the NIC), as the simulator
// runs them. Capacity-padded (Tutel's dispatch is (E, C, M); dropless models use the largest
// count as capacity, like capacity_factor < 0). Tokens in a TP group: option
// tokens=split|duplicated (token_layout.hpp); by default treated like DeepSpeed. Gradients: Tutel
// trains under PyTorch DDP (its examples wrap the model in DistributedDataParallel; expert
// parameters, marked skip_allreduce, are all-reduced over the expert-DP group), so the
// all-reduces run in DDP buckets during the backward (gradient_buckets.hpp); grad_sync=after as
// FSMoE's Tutel baseline ran (FSMoE Sec. 6: only its Tutel-Improved overlaps them).
// Linear = tutel/impls/communicate.py simple_all_to_all, dist.all_to_all_single (NCCL's grouped
// send/recv: the network models' direct exchange with PXN); 2DH = tutel_custom_kernel
// nccl_all_to_all_2d_async, emitted here as its two all-to-alls (microsoft/tutel).
#include <fmt/format.h>

#include <algorithm>

#include "sim/strategies/ddp_gradient_sync.hpp"
#include "sim/strategies/deepspeed_moe_block.hpp"
#include "sim/strategies/emit_iteration.hpp"
#include "sim/strategies/overlap_schedule.hpp"
#include "sim/strategies/registry.hpp"
#include "sim/strategies/scheduled_pipeline.hpp"
#include "sim/strategies/standard_layer.hpp"
#include "sim/strategies/token_layout.hpp"

namespace moesim::strategies {
namespace {

// Sub-groups of one EP group for 2DH: its members per node, and per position within a node.
struct TwoDh {
  std::vector<std::vector<RankId>> intra;
  std::vector<std::vector<RankId>> inter;
};

/// Tutel's choice for one MoE layer.
struct Choice {
  std::int64_t degree = 1;
  bool two_dh = false;
  bool operator==(const Choice&) const = default;
};

/// `group` split by node and by position within a node (empty when 2DH does not apply: a single
/// node, one GPU per node, or nodes holding different numbers of the group's GPUs).
TwoDh split_by_node(const TrainingJob& job, const std::vector<RankId>& group) {
  std::vector<std::pair<std::int32_t, std::vector<RankId>>> by_node;
  for (RankId r : group) {
    const std::int32_t node = job.cluster.node_of(r);
    auto it = std::find_if(by_node.begin(), by_node.end(),
                           [&](const auto& e) { return e.first == node; });
    if (it == by_node.end()) {
      by_node.push_back({node, {}});
      it = by_node.end() - 1;
    }
    it->second.push_back(r);
  }
  TwoDh out;
  const std::size_t per_node = by_node.front().second.size();
  if (by_node.size() < 2 || per_node < 2) return out;  // single node or one per node: linear
  for (const auto& e : by_node) {
    if (e.second.size() != per_node) return out;
  }
  for (const auto& e : by_node) out.intra.push_back(e.second);
  out.inter.resize(per_node);
  for (const auto& e : by_node) {
    for (std::size_t i = 0; i < per_node; ++i) out.inter[i].push_back(e.second[i]);
  }
  return out;
}

/// The candidates Tutel chooses among on `job`, in its order of preference on a tie.
std::vector<Choice> candidates(const TrainingJob& job) {
  std::vector<Choice> out;
  const bool dh_possible =
      !split_by_node(job, job.mapping.groups(GroupKind::ep).front()).intra.empty();
  for (const bool dh : {false, true}) {
    if (dh && !dh_possible) continue;
    for (std::int64_t d : {1, 2, 4, 8}) out.push_back(Choice{d, dh});
  }
  return out;
}

/// Where one emission of a MoE core began and ended on each rank of its stage: the tasks its
/// first op waited for, and the tasks the op after it waits for.
struct CoreSpan {
  std::int64_t moe_index = 0;
  std::vector<RankId> ranks;
  std::vector<After> before;  ///< per rank, in `ranks` order
  std::vector<After> after;
};

/// Tutel's MoE core: the chunked dispatch -> experts -> combine pipeline, (degree, algorithm)
/// planned per MoE layer by plan().
class TutelCore final : public MoeCore {
 public:
  /// Plans by the cost evaluation, or takes `given` (one choice per MoE layer, from trials)
  /// and records it; `spans` (when given) receives every core emission's span.
  TutelCore(EmissionContext& ctx, const std::vector<Choice>* given, std::string_view basis,
            std::vector<CoreSpan>* spans)
      : ctx_(ctx), spans_(spans) {
    const TrainingJob& job = ctx.job();
    const auto& groups = job.mapping.groups(GroupKind::ep);
    two_dh_.resize(groups.size());
    for (std::size_t g = 0; g < groups.size(); ++g) two_dh_[g] = split_by_node(job, groups[g]);
    plan(given, basis);
  }

  void forward(const Step& s, const MoeLayerPlan& p) override {
    emit_chunked(s, p, Phase::forward);
  }
  void backward(const Step& s, const MoeLayerPlan& p) override {
    emit_chunked(s, p, Phase::backward);
  }

 private:
  /// Chooses every MoE layer's (degree, algorithm) by the cost evaluation, or takes `given`,
  /// and records the decisions (a constructed core is a planned one).
  void plan(const std::vector<Choice>* given, std::string_view basis) {
    const std::int64_t layers = ctx_.job().model.moe_layer_count();
    choice_.assign(static_cast<std::size_t>(layers), Choice{});
    if (layers == 0 || ctx_.job().layout.ep == 1) {
      ctx_.decisions()["tutel.degree"] = Decision::count(1, "", "ep=1 or no MoE layer");
      ctx_.decisions()["tutel.a2a"] = Decision::choice("none", "ep=1");
      return;
    }
    const std::vector<Choice> options = candidates(ctx_.job());
    std::string mixed;
    for (std::int64_t l = 0; l < layers; ++l) {
      const MoeLayerPlan& p = ctx_.plan(l);
      SimTime best = SimTime::max();
      Choice& c = choice_[static_cast<std::size_t>(l)];
      for (const Choice& o : options) {
        if (given != nullptr && l > 0) break;  // the estimates are only recorded, for layer 0
        const SimTime t = evaluate(p, o.degree, o.two_dh);
        if (l == 0) {
          ctx_.decisions()[fmt::format("tutel.estimate.{}.d{}", o.two_dh ? "2dh" : "linear",
                                       o.degree)] =
              Decision::quantity(
                  t.us(), "us",
                  fmt::format("MoE layer 0 fwd+bwd; per chunk a2a {:.1f} us, expert {:.1f} us",
                              exchange_time(p, o.degree, o.two_dh).us(),
                              expert_alone_us(p, o.degree)));
        }
        if (t < best) {
          best = t;
          c = o;
        }
      }
      if (given != nullptr) c = (*given)[static_cast<std::size_t>(l)];
      if (l > 0 && !(c == choice_.front())) mixed = " (layers differ: tutel.degree.moe<i>)";
    }
    const Choice& c0 = choice_.front();
    if (given != nullptr)
      ctx_.decisions()["tutel.choice"] = Decision::choice("trials", std::string(basis));
    ctx_.decisions()["tutel.degree"] = Decision::count(c0.degree, "", "MoE layer 0" + mixed);
    ctx_.decisions()["tutel.a2a"] = Decision::choice(c0.two_dh ? "2dh" : "linear", "MoE layer 0");
    for (const Phase phase : {Phase::forward, Phase::backward}) {
      const bool fwd = phase == Phase::forward;
      const OverlapSchedule q = direction(ctx_.plan(0), c0.degree, c0.two_dh, phase);
      ctx_.decisions()[fwd ? "tutel.expert_estimate.forward" : "tutel.expert_estimate.backward"] =
          Decision::quantity(
              q.kernel_total().us(), "us",
              fmt::format("MoE layer 0's experts, all chunks, slowest rank ({} of {} kernels "
                          "beside communication)",
                          q.kernels_beside_comm(), q.kernel_count()));
      ctx_.decisions()[fwd ? "tutel.core_estimate.forward" : "tutel.core_estimate.backward"] =
          Decision::quantity(q.span().us(), "us",
                             "MoE layer 0's dispatch -> experts -> combine pipeline");
    }
    ctx_.decisions()["tutel.a2a_estimate"] =
        Decision::quantity(exchange_time(ctx_.plan(0), c0.degree, c0.two_dh).us(), "us",
                           "one chunk's dispatch, every EP group of the stage at once");
    if (!mixed.empty()) {
      for (std::int64_t l = 0; l < layers; ++l) {
        const Choice& c = choice_[static_cast<std::size_t>(l)];
        ctx_.decisions()[fmt::format("tutel.degree.moe{}", l)] =
            Decision::count(c.degree, "", c.two_dh ? "2dh" : "linear");
      }
    }
  }

  // Estimated time of one chunk's exchange (dispatch or combine: same size), every EP group of
  // stage 0 running it at once.
  SimTime exchange_time(const MoeLayerPlan& p, std::int64_t d, bool dh) const {
    if (!dh) return ctx_.costs().estimate_together(ctx_.exchange_ops(0, p, false, 0, d));
    std::vector<CommOp> intra, inter;
    for (const std::vector<RankId>* g : ctx_.stage_groups(GroupKind::ep, 0)) {
      const TwoDh& sub = two_dh_[ctx_.ep_group_index(g->front())];
      const Bytes bytes{split_share(ctx_.dispatch_bytes(p, g->front()), d, 0)};
      for (const auto& i : sub.intra)
        intra.push_back(ctx_.op(CommKind::all_to_all, CommGroup::ep, i, bytes));
      for (const auto& i : sub.inter)
        inter.push_back(ctx_.op(CommKind::all_to_all, CommGroup::ep, i, bytes));
    }
    return ctx_.costs().estimate_together(intra) + ctx_.costs().estimate_together(inter);
  }

  SimTime esp_time(const MoeLayerPlan& p, std::int64_t d) const {
    return ctx_.costs().estimate_together(ctx_.esp_ops(0, p, true, 0, d));
  }

  // One chunk's experts forward alone on the slowest rank (the estimate's detail).
  double expert_alone_us(const MoeLayerPlan& p, std::int64_t d) const {
    SimTime t = SimTime::zero();
    for (const KernelCost& k : expert_kernels(p, d, Phase::forward)) t += k.alone;
    return t.us();
  }

  /// One kernel of a chunk's experts: alone, and started beside a collective.
  struct KernelCost {
    SimTime alone;
    SimTime beside_comm;
  };

  // The kernels of one chunk's experts (the catalogue's, in issue order) on the slowest rank of
  // stage 0, each priced alone and beside a collective (CostModels::duration_beside_comm).
  std::vector<KernelCost> expert_kernels(const MoeLayerPlan& p, std::int64_t d, Phase phase) const {
    const Pass pass = phase == Phase::backward ? Pass::backward : Pass::forward;
    std::vector<KernelCost> worst;
    SimTime worst_time = SimTime::zero();
    for (RankId r : ctx_.job().mapping.stage_ranks(0)) {
      std::vector<std::int64_t> tokens = p.expert_tokens[r.index()];
      for (auto& t : tokens) t = split_share(t, d, 0);
      const BlockWork work = ctx_.ops().experts(pass, tokens);
      std::vector<KernelCost> kernels;
      SimTime total = SimTime::zero();
      for (const KernelOp* k : work.kernels()) {
        kernels.push_back(
            {ctx_.costs().duration(k->task, r), ctx_.costs().duration_beside_comm(k->task, r)});
        total += kernels.back().alone;
      }
      if (worst.empty() || total > worst_time) {
        worst = std::move(kernels);
        worst_time = total;
      }
    }
    return worst;
  }

  // The two-queue schedule of one direction as emit_chunked issues it: the comm queue runs
  // D0..D(d-1) (all-to-all, then the ESP all-gather) then C0..C(d-1) (ESP reduce-scatter, then
  // all-to-all), C_i after E_i; the compute queue E0..E(d-1), E_i after D_i, each E_i the chunk's
  // expert kernels in order. Each kernel pays the contention the executor charges for the part of
  // it that overlaps a collective (D_(i+1) or C_(i-1) beside E_i), the rest alone.
  static OverlapSchedule pipeline(std::int64_t d, SimTime comm,
                                  const std::vector<KernelCost>& kernels) {
    OverlapSchedule q;
    std::vector<OverlapSchedule::Op> dispatched;
    for (std::int64_t i = 0; i < d; ++i) dispatched.push_back(q.comm(0, comm));
    for (std::int64_t i = 0; i < d; ++i) {
      std::vector<OverlapSchedule::Op> after = {dispatched[static_cast<std::size_t>(i)]};
      for (const KernelCost& k : kernels) after = {q.kernel(k.alone, k.beside_comm, after)};
      q.comm(0, comm, after);
    }
    return q;
  }

  OverlapSchedule direction(const MoeLayerPlan& p, std::int64_t d, bool dh, Phase phase) const {
    const SimTime comm = exchange_time(p, d, dh) + esp_time(p, d);
    return pipeline(d, comm, expert_kernels(p, d, phase));
  }

  SimTime evaluate(const MoeLayerPlan& p, std::int64_t d, bool dh) const {
    return direction(p, d, dh, Phase::forward).span() + direction(p, d, dh, Phase::backward).span();
  }

  void emit_exchange(const Step& s, const MoeLayerPlan& p, bool combine, std::int64_t chunk,
                     const Choice& c) {
    const std::string_view name = s.phase == Phase::forward
                                      ? (combine ? "ep.combine" : "ep.dispatch")
                                      : (combine ? "ep.dispatch.bwd" : "ep.combine.bwd");
    if (!c.two_dh) {
      ctx_.emit_expert_exchange(s, p, combine, name, ctx_.comm(), chunk, c.degree);
      return;
    }
    for (const std::vector<RankId>* g : ctx_.stage_groups(GroupKind::ep, s.stage)) {
      const TwoDh& sub = two_dh_[ctx_.ep_group_index(g->front())];
      const Bytes bytes{split_share(ctx_.dispatch_bytes(p, g->front()), c.degree, chunk)};
      const auto intra = [&] {
        for (const auto& i : sub.intra) {
          ctx_.collective(*s.chain, fmt::format("{}.intra", name),
                          ctx_.op(CommKind::all_to_all, CommGroup::ep, i, bytes), ctx_.comm());
        }
      };
      const auto inter = [&] {
        for (const auto& i : sub.inter) {
          ctx_.collective(*s.chain, fmt::format("{}.inter", name),
                          ctx_.op(CommKind::all_to_all, CommGroup::ep, i, bytes), ctx_.comm());
        }
      };
      // Dispatch aggregates inside the node first; the combine undoes it in reverse order.
      if (combine) {
        inter();
        intra();
      } else {
        intra();
        inter();
      }
    }
  }

  void emit_chunked(const Step& s, const MoeLayerPlan& p, Phase phase) {
    const Choice& choice = choice_[static_cast<std::size_t>(p.moe_index)];
    const std::int64_t degree = choice.degree;
    const auto world = static_cast<std::size_t>(ctx_.job().layout.world());
    std::vector<std::vector<TaskId>> start(world);
    for (RankId r : *s.ranks) start[r.index()] = (*s.chain)[r];
    CoreSpan span;
    if (spans_ != nullptr) {
      span.moe_index = p.moe_index;
      span.ranks = *s.ranks;
      for (RankId r : *s.ranks) span.before.push_back((*s.chain)[r]);
    }
    std::vector<std::vector<std::vector<TaskId>>> dispatched(
        static_cast<std::size_t>(degree), std::vector<std::vector<TaskId>>(world));
    for (std::int64_t c = 0; c < degree; ++c) {
      for (RankId r : *s.ranks) (*s.chain)[r] = start[r.index()];
      emit_exchange(s, p, false, c, choice);
      ctx_.emit_esp_collective(s, p, true, "esp.allgather", ctx_.comm(), c, degree);
      for (RankId r : *s.ranks) dispatched[static_cast<std::size_t>(c)][r.index()] = (*s.chain)[r];
    }
    for (std::int64_t c = 0; c < degree; ++c) {
      for (RankId r : *s.ranks) {
        (*s.chain)[r] = dispatched[static_cast<std::size_t>(c)][r.index()];
        std::vector<std::int64_t> tokens = p.expert_tokens[r.index()];
        for (auto& t : tokens) t = split_share(t, degree, c);
        ctx_.emit_experts(s, r, tokens, phase, ctx_.compute());
      }
      ctx_.emit_esp_collective(s, p, false, "esp.reducescatter", ctx_.comm(), c, degree);
      emit_exchange(s, p, true, c, choice);
    }
    if (spans_ != nullptr) {
      for (RankId r : *s.ranks) span.after.push_back((*s.chain)[r]);
      spans_->push_back(std::move(span));
    }
  }

  EmissionContext& ctx_;
  std::vector<CoreSpan>* spans_;
  std::vector<TwoDh> two_dh_;
  std::vector<Choice> choice_;  ///< per MoE layer
};

/// When the last of `tasks` ends (zero for none: the op could start at once).
SimTime last_end(const After& tasks, const std::vector<SimTime>& ends) {
  SimTime t = SimTime::zero();
  for (TaskId id : tasks) t = std::max(t, ends[id.index()]);
  return t;
}

/// Each MoE layer's core time in one trial: per rank the sum of its spans (micro-batches and
/// passes), the slowest rank of the layer's stage.
std::vector<SimTime> layer_core_times(const std::vector<CoreSpan>& spans,
                                      const std::vector<SimTime>& ends, std::int64_t layers,
                                      std::size_t world) {
  std::vector<std::vector<SimTime>> per_rank(static_cast<std::size_t>(layers),
                                             std::vector<SimTime>(world, SimTime::zero()));
  for (const CoreSpan& c : spans) {
    for (std::size_t i = 0; i < c.ranks.size(); ++i) {
      per_rank[static_cast<std::size_t>(c.moe_index)][c.ranks[i].index()] +=
          last_end(c.after[i], ends) - last_end(c.before[i], ends);
    }
  }
  std::vector<SimTime> out;
  for (const auto& ranks : per_rank) out.push_back(*std::max_element(ranks.begin(), ranks.end()));
  return out;
}

class Tutel final : public Strategy {
 public:
  Tutel(std::string name, TokenLayout tokens, GradientSyncOptions grad_sync, bool trials)
      : name_(std::move(name)), tokens_(tokens), grad_sync_(grad_sync), trials_(trials) {}
  std::string_view name() const override { return name_; }
  std::string_view summary() const override {
    return "Tutel: capacity-chunked A2A/expert pipeline, degree d in {1,2,4,8} and linear/2DH "
           "all-to-all chosen by its cost evaluation (or timed trials: choose=trials)";
  }
  BuildResult build_iteration(const TrainingJob& job, const CostModels& costs) const override {
    if (!chooses_by_trials(job, costs)) return build(job, costs, nullptr, "", nullptr);
    // Tutel's method: time every candidate, each layer keeps its fastest.
    const std::int64_t layers = job.model.moe_layer_count();
    const auto world = static_cast<std::size_t>(job.layout.world());
    const std::vector<Choice> options = candidates(job);
    std::vector<Choice> chosen(static_cast<std::size_t>(layers));
    std::vector<SimTime> best(static_cast<std::size_t>(layers), SimTime::max());
    std::string layer0;
    for (const Choice& o : options) {
      const std::vector<Choice> uniform(static_cast<std::size_t>(layers), o);
      std::vector<CoreSpan> spans;
      const BuildResult trial = build(job, costs, &uniform, "", &spans);
      const std::vector<SimTime> times =
          layer_core_times(spans, costs.trials->task_ends(trial.graph), layers, world);
      for (std::size_t l = 0; l < times.size(); ++l) {
        if (times[l] < best[l]) {
          best[l] = times[l];
          chosen[l] = o;
        }
      }
      layer0 += fmt::format("{}{} d{} {:.1f} us", layer0.empty() ? "" : ", ",
                            o.two_dh ? "2dh" : "linear", o.degree, times.front().us());
    }
    BuildResult result =
        build(job, costs, &chosen,
              fmt::format("timed trials: one iteration per candidate, the fastest per layer (DDP "
                          "buckets overlap the backward); MoE layer 0's core: {}",
                          layer0),
              nullptr);
    return result;
  }

 private:
  /// choose=trials with a runner to time them on, and something to choose.
  bool chooses_by_trials(const TrainingJob& job, const CostModels& costs) const {
    return trials_ && costs.trials != nullptr && job.layout.ep > 1 &&
           job.model.moe_layer_count() > 0;
  }

  BuildResult build(const TrainingJob& job, const CostModels& costs,
                    const std::vector<Choice>* given, std::string_view basis,
                    std::vector<CoreSpan>* spans) const {
    EmissionContext::Options options;
    options.pad_to_capacity = true;
    options.split_tokens_over_tp = split_tokens_over_tp(tokens_, job.layout.tp, job.layout.esp);
    EmissionContext ctx(job, costs, options);
    TutelCore core(ctx, given, basis, spans);  // plans (degree, algorithm) per MoE layer
    DeepSpeedMoeBlock moe(ctx, core);
    StandardLayer layer(ctx, moe);
    ScheduledPipeline pipeline(ctx, layer, name());
    DdpGradientSync gradients(ctx, grad_sync_);
    return emit_iteration(ctx, pipeline, gradients);
  }

  std::string name_;
  TokenLayout tokens_;
  GradientSyncOptions grad_sync_;
  bool trials_;  ///< choose=trials
};

}  // namespace

std::unique_ptr<Strategy> make_tutel() {
  return std::make_unique<Tutel>("tutel", TokenLayout::real_system, GradientSyncOptions{}, false);
}

std::unique_ptr<Strategy> configure_tutel(StrategyOptions& options) {
  const TokenLayout tokens = read_token_layout(options);
  const GradientSyncOptions grad_sync = read_gradient_sync(options, GradientSyncOptions{});
  const bool trials = options.get_choice("choose", "estimate|trials", "estimate") == "trials";
  return std::make_unique<Tutel>(options.empty() ? "tutel" : "tutel:" + options.text(), tokens,
                                 grad_sync, trials);
}

}  // namespace moesim::strategies
