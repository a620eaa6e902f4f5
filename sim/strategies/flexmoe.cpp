// flexmoe: FlexMoE's dynamic device placement (Nie et al., SIGMOD 2023, arXiv 2304.03946).
// Reconstruction [R]: the paper's full text was not available; this implements the mechanism of
// its abstract and re-implementations (docs/sources.md), with the choices below marked [R].
//
//  - vExpert slots: every GPU of an EP group has 2 x (E / ep) expert slots [R: the paper's slot
//    count is a memory budget; twice the static share]; the same placement is used in every EP
//    group. Iteration 0 starts from the static expert-parallel placement.
//  - Placement of iteration i is a pure function of the routing of iterations < i
//    (TrainingJob::routing_history, kept by `moesim run`): the monitor replays, for j = 1..i, the
//    trigger on iteration j-1's routing statistics (balance ratio max/mean of the GPUs' token
//    loads under the placement of j-1 > 1.2 [R]) and, when it fires, the policy maker
//    (flexmoe_planner.hpp: greedy Expand/Shrink/Migrate under T = T_compute + T_A2A + T_sync,
//    a step accepted only if it lowers T + its transfer time / 10 iterations [R]). T_A2A's
//    bandwidths are those of an all-to-all (CostModels estimate of every GPU sending to the other
//    nodes' / its node's GPUs at once), moves and T_sync use a lone transfer's. Nothing is
//    cached between iterations: the strategy stays const and pure.
//  - The moves decided at iteration i are charged to iteration i, before it trains: the executor
//    applies the new placement between iterations, so nothing of the iteration overlaps it.
//    Each Expand/Migrate is a send_recv of the expert's parameters + Adam mixed-precision
//    optimizer state (1 + 6 = 7 x the parameter bytes; Hecate: optimizer state >= 6x
//    parameters) on the "flex.move" stream at the start of the iteration. Then every GPU whose
//    vExperts of a layer changed re-lays out that layer's expert buffers so its grouped expert
//    GEMMs, its gradients and its optimizer see contiguous tensors: a device copy ("flex.relayout",
//    read + write) of parameters, gradients (2 + 2 bytes per parameter) and fp32 master weight,
//    Adam m and v (12 bytes) of every expert it holds in that layer [R: the re-layout FlexMoE's
//    vExpert slots imply; its size is not published]. The re-layout is the first kernel of the
//    GPU's compute stream and waits for the moves to and from it, so its forward starts after
//    them; the other GPUs wait at their first exchange with it. Shrink frees a slot (no transfer).
//  - Per MoE layer: an all-gather of the per-expert counts over the EP group, then dropless-style
//    all-to-all-v with a replicated expert's tokens split evenly over its replicas, preferring the
//    sender's own GPU, then its node; each vExpert computes its share; the combine mirrors it.
//  - Gradients: dense all-reduce over dp as usual; per expert, one all-reduce over every rank
//    holding a replica of it (its replicas in every EP group), the replica synchronisation.
// Expert sharding is not part of FlexMoE: esp > 1 is an InputError. With tp > 1 the tp ranks of
// a replica each dispatch 1/tp of its tokens (DeepSpeed drop_tokens/gather_tokens).
#include <fmt/format.h>

#include <algorithm>

#include "sim/core/errors.hpp"
#include "sim/strategies/deepspeed_moe_block.hpp"
#include "sim/strategies/emit_iteration.hpp"
#include "sim/strategies/flexmoe_planner.hpp"
#include "sim/strategies/registry.hpp"
#include "sim/strategies/scheduled_pipeline.hpp"
#include "sim/strategies/standard_layer.hpp"

namespace moesim::strategies {
namespace {

constexpr double kBalanceThreshold = 1.2;     // [R] trigger: max/mean load above this
constexpr double kAmortizeIterations = 10;    // [R] SYMI's shortest re-balancing period
constexpr std::int64_t kSlotFactor = 2;       // [R] slots per GPU = 2 x static share
constexpr std::int64_t kOptimizerFactor = 6;  // Hecate: Adam mixed-precision state >= 6x params
// Bytes per expert parameter a re-layout copies: bf16/fp16 parameter and gradient (2 + 2), fp32
// master weight, Adam m and v (4 + 4 + 4).
constexpr std::int64_t kRelayoutBytesPerParam = 16;
constexpr std::int64_t kExpertCountBytes = 8;

/// FlexMoE's placement planner and the pieces that emit what it placed: the MoE core (counts,
/// then the DeepSpeed core over the placement's routing, after this iteration's moves) and the
/// gradient sync (per expert, an all-reduce over every rank holding a replica).
class FlexMoePlacement final {
 public:
  explicit FlexMoePlacement(EmissionContext& ctx) : ctx_(ctx), serial_(ctx) {
    const TrainingJob& job = ctx.job();
    const auto& g0 = job.mapping.groups(GroupKind::ep).front();
    for (RankId r : g0) node_of_.push_back(job.cluster.node_of(r));
    params_ = cost_params();
    // Constructed = planned, and the moves are the iteration's first tasks.
    plan_and_emit_moves();
  }

  /// The core's forward: counts, this iteration's moves, the serial core over the placement.
  void core_forward(const Step& s, const MoeLayerPlan& p) {
    const std::int64_t experts = ctx_.job().model.experts;
    for (const std::vector<RankId>* g : ctx_.stage_groups(GroupKind::ep, s.stage)) {
      if (g->size() <= 1) continue;
      const auto n = static_cast<std::int64_t>(g->size());
      ctx_.collective(
          *s.chain, "ep.counts",
          ctx_.op(CommKind::all_gather, CommGroup::ep, *g, Bytes{experts * kExpertCountBytes * n}),
          ctx_.comm());
    }
    for (RankId r : *s.ranks) {
      for (TaskId t : move_deps_[static_cast<std::size_t>(p.moe_index)][r.index()]) {
        (*s.chain)[r].push_back(t);
      }
    }
    serial_.forward(s, flex_plan(p));
  }

  void core_backward(const Step& s, const MoeLayerPlan& p) { serial_.backward(s, flex_plan(p)); }

  /// Dense all-reduces over dp; per expert, one all-reduce among every rank holding a replica.
  void gradient_sync(Chain& chain) {
    const ModelSpec& m = ctx_.job().model;
    const ParallelLayout& lay = ctx_.job().layout;
    const std::int64_t b = ctx_.elem_bytes();
    std::int64_t moe_index = m.moe_layer_count();
    for (std::int64_t stage = lay.pp - 1; stage >= 0; --stage) {
      const std::vector<RankId> ranks = ctx_.job().mapping.stage_ranks(stage);
      std::vector<std::int64_t> params(static_cast<std::size_t>(lay.world()), 0);
      Step s{.stage = stage, .phase = Phase::backward, .ranks = &ranks, .chain = &chain};
      for (std::int64_t i = lay.layers_of_stage(stage) - 1; i >= 0; --i) {
        const std::int64_t layer = lay.first_layer_of_stage(stage) + i;
        s.layer = layer;
        ctx_.set_info(s);
        // Non-expert parameters as the catalogue counts them (TP-sharded parts / tp).
        const std::int64_t dense = ctx_.ops().dense_params(layer);
        for (RankId r : ranks) params[r.index()] += dense;
        ctx_.group_collective(s, GroupKind::dp, "grad.allreduce", CommKind::all_reduce,
                              CommGroup::dp, Bytes{dense * b});
        if (!m.is_moe_layer(layer)) continue;
        --moe_index;
        const flexmoe::Placement& pl = placement_[static_cast<std::size_t>(moe_index)];
        for (std::size_t e = 0; e < pl.replicas.size(); ++e) {
          std::vector<RankId> holders;
          for (const std::vector<RankId>* g : ctx_.stage_groups(GroupKind::ep, stage)) {
            for (std::int64_t pos : pl.replicas[e]) {
              const RankId r = (*g)[static_cast<std::size_t>(pos)];
              holders.push_back(r);
              params[r.index()] += m.expert_params();
            }
          }
          std::sort(holders.begin(), holders.end());
          if (holders.size() < 2) continue;
          ctx_.collective(*s.chain, "grad.allreduce.expert",
                          ctx_.op(CommKind::all_reduce, CommGroup::expert_dp, holders,
                                  Bytes{m.expert_params() * b}),
                          ctx_.comm());
        }
      }
      const std::int64_t ends =
          ctx_.emit_model_ends_gradient_sync(s, stage == 0, stage == lay.pp - 1);
      for (RankId r : ranks) params[r.index()] += ends;
      s.phase = Phase::optimizer;
      s.layer = -1;
      ctx_.set_info(s);
      for (RankId r : ranks)
        ctx_.emit_rank_work(s, r, ctx_.ops().optimizer(params[r.index()]), ctx_.compute());
    }
  }

 private:
  /// Replays the placement decisions up to this iteration and emits this iteration's moves
  /// (before any other task of the iteration).
  void plan_and_emit_moves() {
    const ModelSpec& m = ctx_.job().model;
    const std::int64_t gpus = ctx_.job().layout.ep;
    const std::int64_t slots = kSlotFactor * ctx_.local_experts();
    static const std::vector<RoutingCounts> kNone;
    const auto& history = ctx_.job().routing_history ? *ctx_.job().routing_history : kNone;
    const std::int64_t known =
        std::min<std::int64_t>(static_cast<std::int64_t>(history.size()), ctx_.job().iteration);
    move_stream_ = ctx_.graph().stream("flex.move");
    std::int64_t counts[3] = {0, 0, 0};
    std::int64_t moved_bytes = 0, relayout_bytes = 0;
    std::vector<std::int64_t> layer_of;
    for (std::int64_t l = 0; l < m.layers; ++l) {
      if (m.is_moe_layer(l)) layer_of.push_back(l);
    }
    const auto moe_layers = static_cast<std::int64_t>(layer_of.size());
    placement_.resize(static_cast<std::size_t>(moe_layers));
    move_deps_.assign(
        static_cast<std::size_t>(moe_layers),
        std::vector<std::vector<TaskId>>(static_cast<std::size_t>(ctx_.job().layout.world())));
    for (std::int64_t l = 0; l < moe_layers; ++l) {
      flexmoe::Placement placement = flexmoe::Placement::initial(m.experts, gpus, slots);
      flexmoe::Placement before = placement;  // the placement the charged moves change
      std::vector<flexmoe::Move> charged;
      for (std::int64_t j = 1; j <= known; ++j) {
        const auto demand = demand_of(history[static_cast<std::size_t>(j - 1)], l);
        const double ratio = flexmoe::balance_ratio(flexmoe::route(demand, placement, node_of_));
        if (ratio <= kBalanceThreshold) continue;
        flexmoe::PolicyResult plan = flexmoe::make_scheduling_plan(demand, placement, params_);
        if (j == ctx_.job().iteration) {
          before = placement;
          charged = std::move(plan.moves);
        }
        placement = std::move(plan.placement);
      }
      placement_[static_cast<std::size_t>(l)] = placement;
      // Emit the moves of this iteration in every EP group of the layer's stage.
      const std::int64_t layer = layer_of[static_cast<std::size_t>(l)];
      Step s;
      s.stage = ctx_.job().layout.stage_of_layer(layer);
      s.layer = layer;
      s.phase = Phase::forward;
      ctx_.set_info(s);
      for (const flexmoe::Move& mv : charged) {
        ++counts[static_cast<int>(mv.kind)];
        if (mv.kind == flexmoe::MoveKind::shrink) continue;
        for (const std::vector<RankId>* g : ctx_.stage_groups(GroupKind::ep, s.stage)) {
          const RankId src = (*g)[static_cast<std::size_t>(mv.from)];
          const RankId dst = (*g)[static_cast<std::size_t>(mv.to)];
          const auto members = ctx_.collective_after(
              "flex.move",
              ctx_.op(CommKind::send_recv, CommGroup::other, {src, dst}, Bytes{params_.move_bytes}),
              move_stream_, {{}, {}});
          move_deps_[static_cast<std::size_t>(l)][src.index()].push_back(members[0]);
          move_deps_[static_cast<std::size_t>(l)][dst.index()].push_back(members[1]);
          moved_bytes += params_.move_bytes;
        }
      }
      if (!charged.empty()) {
        for (std::int64_t pos = 0; pos < gpus; ++pos) {
          const std::vector<std::int64_t> now = placement.experts_on(pos);
          if (now == before.experts_on(pos)) continue;
          // Elements of the model dtype copied, each read once and written once.
          const std::int64_t elements = kRelayoutBytesPerParam *
                                        static_cast<std::int64_t>(now.size()) * m.expert_params() /
                                        ctx_.elem_bytes();
          const std::int64_t bytes = 2 * elements * ctx_.elem_bytes();
          for (const std::vector<RankId>* g : ctx_.stage_groups(GroupKind::ep, s.stage)) {
            const RankId r = (*g)[static_cast<std::size_t>(pos)];
            const ComputeTask copy =
                ctx_.ops().memory_kernel(KernelKind::memcpy, elements, 1, bytes);
            ctx_.kernel_after(r, "flex.relayout", copy, ctx_.compute(),
                              move_deps_[static_cast<std::size_t>(l)][r.index()]);
            relayout_bytes += bytes;
          }
        }
      }
      std::string replicas;
      for (std::size_t e = 0; e < placement.replicas.size(); ++e) {
        if (placement.replicas[e].size() < 2) continue;
        replicas +=
            fmt::format("{}e{}x{}", replicas.empty() ? "" : " ", e, placement.replicas[e].size());
      }
      ctx_.decisions()[fmt::format("flexmoe.replicas.L{}", layer)] =
          replicas.empty() ? Decision::choice("none", "static placement")
                           : Decision::choice(replicas, "expert x replicas");
      const auto now = demand_of(ctx_.job().routing, l);
      ctx_.decisions()[fmt::format("flexmoe.balance.L{}", layer)] = Decision::quantity(
          flexmoe::balance_ratio(flexmoe::route(now, placement, node_of_)), "",
          fmt::format("max/mean load; static placement {:.2f}",
                      flexmoe::balance_ratio(flexmoe::route(
                          now, flexmoe::Placement::initial(m.experts, gpus, slots), node_of_))));
      if (l == 0) {
        // The policy's own cost terms for the placement it runs this iteration with.
        const flexmoe::CostBreakdown est = flexmoe::iteration_cost(now, placement, params_);
        ctx_.decisions()["flexmoe.estimate.compute"] = Decision::quantity(
            est.compute.us(), "us", "T_compute of MoE layer 0: busiest GPU, forward + backward");
        ctx_.decisions()["flexmoe.estimate.a2a"] = Decision::quantity(
            est.a2a.us(), "us", "T_A2A of MoE layer 0: dispatch + combine, forward + backward");
      }
    }
    ctx_.decisions()["flexmoe.slots_per_gpu"] = Decision::count(
        slots, "", fmt::format("{} x {} static experts", kSlotFactor, ctx_.local_experts()));
    ctx_.decisions()["flexmoe.trigger"] = Decision::quantity(
        kBalanceThreshold, "", "balance ratio max/mean on the previous iteration's routing");
    ctx_.decisions()["flexmoe.bandwidth.a2a_intra"] = Decision::quantity(
        params_.a2a_intra_bytes_per_s / 1e9, "GB/s", "T_A2A per GPU in an all-to-all, intra-node");
    ctx_.decisions()["flexmoe.bandwidth.a2a_inter"] = Decision::quantity(
        params_.a2a_inter_bytes_per_s / 1e9, "GB/s", "T_A2A per GPU in an all-to-all, inter-node");
    ctx_.decisions()["flexmoe.bandwidth.lone_intra"] = Decision::quantity(
        params_.intra_bytes_per_s / 1e9, "GB/s", "one transfer alone (moves, replica sync)");
    ctx_.decisions()["flexmoe.bandwidth.lone_inter"] = Decision::quantity(
        params_.inter_bytes_per_s / 1e9, "GB/s", "one transfer alone (moves, replica sync)");
    ctx_.decisions()["flexmoe.history"] =
        Decision::count(known, "iterations", "earlier iterations replayed");
    ctx_.decisions()["flexmoe.moves"] = Decision::count(
        counts[0] + counts[1] + counts[2], "",
        fmt::format("expand {}, shrink {}, migrate {} ({:.1f} MiB moved, {:.1f} MiB re-laid out, "
                    "all EP groups)",
                    counts[0], counts[1], counts[2], static_cast<double>(moved_bytes) / (1 << 20),
                    static_cast<double>(relayout_bytes) / (1 << 20)));
  }

  flexmoe::CostParams cost_params() const {
    const ModelSpec& m = ctx_.job().model;
    flexmoe::CostParams c;
    c.node_of = node_of_;
    const auto& g0 = ctx_.job().mapping.groups(GroupKind::ep).front();
    const std::int64_t ref = std::max<std::int64_t>(
        1, m.top_k * ctx_.tokens() * static_cast<std::int64_t>(g0.size()) / m.experts);
    // 1/TPS of a vExpert: the catalogue's expert forward + backward on a typical load.
    const SimTime t = kernel_time(ctx_.ops().expert(Pass::forward, ref), ctx_.costs()) +
                      kernel_time(ctx_.ops().expert(Pass::backward, ref), ctx_.costs());
    c.per_token = t.scaled(1.0 / static_cast<double>(ref));
    const std::int64_t probe = 64LL << 20;
    const auto bandwidth = [&](bool intra) {
      for (std::size_t j = 1; j < g0.size(); ++j) {
        if ((node_of_[j] == node_of_[0]) != intra) continue;
        const SimTime time = ctx_.costs().estimate(
            ctx_.op(CommKind::send_recv, CommGroup::other, {g0[0], g0[j]}, Bytes{probe}));
        return static_cast<double>(probe) / std::max(1e-12, time.seconds());
      }
      return 0.0;
    };
    c.intra_bytes_per_s = bandwidth(true);
    c.inter_bytes_per_s = bandwidth(false);
    if (c.intra_bytes_per_s <= 0.0) c.intra_bytes_per_s = std::max(1.0, c.inter_bytes_per_s);
    if (c.inter_bytes_per_s <= 0.0) c.inter_bytes_per_s = c.intra_bytes_per_s;
    // T_A2A's bandwidths, as profiled under an all-to-all: every GPU of every EP group of the
    // stage sends `probe / peers` to each GPU of its group on the other nodes (resp. its own
    // node) at once; per-GPU bytes / estimated time. Shared NICs, PCIe switches and the fabric's
    // routing all show here (on p4de about half the lone-transfer inter-node figure: 2 GPUs per
    // NIC).
    const auto a2a_bandwidth = [&](bool intra) {
      auto matrix = std::make_shared<ByteMatrix>(g0.size());
      std::int64_t per_gpu_max = 0;
      for (std::size_t i = 0; i < g0.size(); ++i) {
        std::int64_t peers = 0;
        for (std::size_t j = 0; j < g0.size(); ++j) {
          peers += j != i && (node_of_[i] == node_of_[j]) == intra ? 1 : 0;
        }
        if (peers == 0) continue;
        for (std::size_t j = 0; j < g0.size(); ++j) {
          if (j != i && (node_of_[i] == node_of_[j]) == intra) matrix->set(i, j, probe / peers);
        }
        per_gpu_max = std::max(per_gpu_max, probe / peers * peers);
      }
      if (per_gpu_max == 0) return 0.0;
      std::vector<CommOp> all;
      for (const std::vector<RankId>* g : ctx_.stage_groups(GroupKind::ep, 0)) {
        CommOp o = ctx_.op(CommKind::all_to_all_v, CommGroup::ep, *g, Bytes{});
        o.bytes = all_to_all_v_size(*matrix);
        o.matrix = matrix;
        all.push_back(std::move(o));
      }
      const SimTime time = ctx_.costs().estimate_together(all);
      return static_cast<double>(per_gpu_max) / std::max(1e-12, time.seconds());
    };
    c.a2a_intra_bytes_per_s = a2a_bandwidth(true);
    c.a2a_inter_bytes_per_s = a2a_bandwidth(false);
    if (c.a2a_intra_bytes_per_s <= 0.0) c.a2a_intra_bytes_per_s = c.intra_bytes_per_s;
    if (c.a2a_inter_bytes_per_s <= 0.0) c.a2a_inter_bytes_per_s = c.inter_bytes_per_s;
    c.token_bytes = m.hidden * ctx_.elem_bytes();
    c.expert_bytes = m.expert_params() * ctx_.elem_bytes();
    c.move_bytes = (1 + kOptimizerFactor) * m.expert_params() * ctx_.elem_bytes();
    c.amortize_iterations = kAmortizeIterations;
    return c;
  }

  // Tokens each position of the EP groups routes to each expert (after capacity), the mean over
  // the EP groups: the policy prices one group's GPUs (T_compute, T_A2A per GPU), and the
  // a2a bandwidths were probed with every group exchanging at once.
  std::vector<std::vector<std::int64_t>> demand_of(const RoutingCounts& routing,
                                                   std::int64_t moe_index) const {
    const ModelSpec& m = ctx_.job().model;
    const std::int64_t cap =
        m.dropless ? 0 : expert_capacity(ctx_.tokens(), m.top_k, m.capacity_factor, m.experts);
    std::vector<std::vector<std::int64_t>> d(
        static_cast<std::size_t>(ctx_.job().layout.ep),
        std::vector<std::int64_t>(static_cast<std::size_t>(m.experts), 0));
    for (const auto& g : ctx_.job().mapping.groups(GroupKind::ep)) {
      for (std::size_t pos = 0; pos < g.size(); ++pos) {
        const std::int64_t src = ctx_.job().mapping.coords(g[pos]).dp;
        for (std::int64_t e = 0; e < m.experts; ++e) {
          std::int64_t n = routing.at(moe_index, src, e);
          if (!m.dropless) n = std::min(n, cap);
          d[pos][static_cast<std::size_t>(e)] += n;
        }
      }
    }
    const auto groups = static_cast<std::int64_t>(ctx_.job().mapping.groups(GroupKind::ep).size());
    for (auto& row : d) {
      for (auto& n : row) n /= groups;
    }
    return d;
  }

  const MoeLayerPlan& flex_plan(const MoeLayerPlan& p) {
    auto it = flex_plans_.find(p.moe_index);
    if (it != flex_plans_.end()) return it->second;
    MoeLayerPlan q = p;
    const ModelSpec& m = ctx_.job().model;
    const flexmoe::Placement& pl = placement_[static_cast<std::size_t>(p.moe_index)];
    const std::int64_t token_bytes = m.hidden * ctx_.elem_bytes();
    const auto& groups = ctx_.job().mapping.groups(GroupKind::ep);
    q.dispatch.clear();
    q.combine.clear();
    for (const auto& g : groups) {
      std::vector<std::int32_t> nodes;
      std::vector<std::vector<std::int64_t>> demand;
      for (RankId r : g) {
        nodes.push_back(ctx_.job().cluster.node_of(r));
        demand.push_back(p.kept[r.index()]);
      }
      const flexmoe::Routed routed = flexmoe::route(demand, pl, nodes);
      auto d = std::make_shared<ByteMatrix>(g.size());
      auto c = std::make_shared<ByteMatrix>(g.size());
      for (std::size_t i = 0; i < g.size(); ++i) {
        for (std::size_t j = 0; j < g.size(); ++j) {
          d->set(i, j, routed.sent[i][j] * token_bytes);
          c->set(j, i, routed.sent[i][j] * token_bytes);
        }
        std::vector<std::int64_t> tokens_per_vexpert;
        for (std::int64_t e : pl.experts_on(static_cast<std::int64_t>(i))) {
          tokens_per_vexpert.push_back(routed.computed[i][static_cast<std::size_t>(e)]);
        }
        q.expert_tokens[g[i].index()] = std::move(tokens_per_vexpert);
      }
      q.dispatch.push_back(std::move(d));
      q.combine.push_back(std::move(c));
    }
    return flex_plans_.emplace(p.moe_index, std::move(q)).first->second;
  }

  EmissionContext& ctx_;
  DeepSpeedMoeCore serial_;
  std::vector<std::int32_t> node_of_;
  flexmoe::CostParams params_;
  StreamId move_stream_;
  std::vector<flexmoe::Placement> placement_;
  std::vector<std::vector<std::vector<TaskId>>> move_deps_;  // [moe layer][rank]
  std::map<std::int64_t, MoeLayerPlan> flex_plans_;
};

/// The MoE core piece over FlexMoePlacement.
class FlexMoeCore final : public MoeCore {
 public:
  explicit FlexMoeCore(FlexMoePlacement& placement) : placement_(placement) {}
  void forward(const Step& s, const MoeLayerPlan& p) override { placement_.core_forward(s, p); }
  void backward(const Step& s, const MoeLayerPlan& p) override { placement_.core_backward(s, p); }

 private:
  FlexMoePlacement& placement_;
};

/// The gradient-sync piece over FlexMoePlacement.
class FlexMoeGradientSync final : public GradientSync {
 public:
  explicit FlexMoeGradientSync(FlexMoePlacement& placement) : placement_(placement) {}
  void emit(Chain& after_backward) override { placement_.gradient_sync(after_backward); }

 private:
  FlexMoePlacement& placement_;
};

class FlexMoe final : public Strategy {
 public:
  std::string_view name() const override { return "flexmoe"; }
  std::string_view summary() const override {
    return "FlexMoE: vExpert replication/relocation (expand, shrink, migrate) from earlier "
           "iterations' routing, cost-model greedy policy, moves charged when made";
  }
  /// The layouts it cannot build, refused before anything is built or printed.
  void check_job(const TrainingJob& job) const override {
    Strategy::check_job(job);
    if (job.layout.esp != 1) {
      throw input_error("", "--parallel",
                        "flexmoe places whole experts (no expert sharding, FlexMoE SIGMOD 2023)",
                        fmt::format("esp={}", job.layout.esp), "esp=1");
    }
  }
  BuildResult build_iteration(const TrainingJob& job, const CostModels& costs) const override {
    check_job(job);
    EmissionContext::Options options;
    options.pad_to_capacity = false;
    // Like DeepSpeed: the tp ranks of a replica each dispatch 1/tp of its tokens.
    options.split_tokens_over_tp = job.layout.tp > 1;
    EmissionContext ctx(job, costs, options);
    FlexMoePlacement placement(ctx);  // replays the placement, emits this iteration's moves
    FlexMoeCore core(placement);
    DeepSpeedMoeBlock moe(ctx, core);
    StandardLayer layer(ctx, moe);
    ScheduledPipeline pipeline(ctx, layer, name());
    FlexMoeGradientSync gradients(placement);
    return emit_iteration(ctx, pipeline, gradients);
  }
};

}  // namespace

std::unique_ptr<Strategy> make_flexmoe() { return std::make_unique<FlexMoe>(); }

}  // namespace moesim::strategies
