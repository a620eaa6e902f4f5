// tutel: Tutel's adaptive pipelining (strategies.md 6.2, 6.3): the dispatch all-to-all -> experts
// -> combine all-to-all path is split along the capacity dimension into d chunks, d in
// {1, 2, 4, 8} (a2a_ffn_overlap_degree), so that chunk i+1's all-to-all runs while chunk i's
// experts compute. The all-to-all is either linear (one NCCL all-to-all over the EP group) or 2DH
// (two-dimensional hierarchical: an intra-node all-to-all that aggregates by destination local
// rank, then an inter-node all-to-all among GPUs with the same local position). Tutel picks
// (d, algorithm) by trial runs; here its own cost evaluation uses CostModels: for each candidate,
// a two-queue schedule (comm queue: D0..Dd-1 then C0..Cd-1; compute queue: E0..Ed-1) of the
// per-chunk estimates, forward + backward (backward experts = dX + dW), the same d for both as
// Tutel does. Capacity-padded (Tutel's dispatch is (E, C, M); dropless models use the largest
// count as capacity, like capacity_factor < 0). Tokens in a TP group: option tokens=split|
// duplicated (token_layout.hpp); by default treated like DeepSpeed.
#include <fmt/format.h>

#include <algorithm>

#include "sim/strategies/iteration_builder.hpp"
#include "sim/strategies/registry.hpp"
#include "sim/strategies/token_layout.hpp"

namespace moesim::strategies {
namespace {

// Sub-groups of one EP group for 2DH: its members per node, and per position within a node.
struct TwoDh {
  std::vector<std::vector<RankId>> intra;
  std::vector<std::vector<RankId>> inter;
};

class TutelBuilder final : public IterationBuilder {
 public:
  TutelBuilder(const TrainingJob& job, const CostModels& costs, Options options)
      : IterationBuilder(job, costs, options) {
    const auto& groups = job.mapping.groups(GroupKind::ep);
    two_dh_.resize(groups.size());
    for (std::size_t g = 0; g < groups.size(); ++g) two_dh_[g] = split_by_node(groups[g]);
  }

  void plan_schedule() {
    if (job_.model.moe_layer_count() == 0 || job_.layout.ep == 1) {
      decisions_["tutel.degree"] = std::string("1");
      decisions_["tutel.a2a"] = std::string("none (ep=1)");
      return;
    }
    const MoeLayerPlan& p = plan(0);
    const bool dh_possible = !two_dh_[0].intra.empty();
    SimTime best = SimTime::max();
    for (const bool dh : {false, true}) {
      if (dh && !dh_possible) continue;
      for (std::int64_t d : {1, 2, 4, 8}) {
        const SimTime t = evaluate(p, d, dh);
        decisions_[fmt::format("tutel.estimate.{}.d{}", dh ? "2dh" : "linear", d)] =
            fmt::format("{:.1f} us (a2a {:.1f} expert {:.1f})", t.us(),
                        exchange_time(p, d, dh).us(), expert_time(p, d, Phase::forward).us());
        if (t < best) {
          best = t;
          degree_ = d;
          use_2dh_ = dh;
        }
      }
    }
    decisions_["tutel.degree"] = std::to_string(degree_);
    decisions_["tutel.a2a"] = use_2dh_ ? "2dh" : "linear";
  }

 protected:
  void emit_moe_core_forward(const Step& s, const MoeLayerPlan& p) override {
    emit_chunked(s, p, Phase::forward);
  }
  void emit_moe_core_backward(const Step& s, const MoeLayerPlan& p) override {
    emit_chunked(s, p, Phase::backward);
  }

 private:
  TwoDh split_by_node(const std::vector<RankId>& group) const {
    std::vector<std::pair<std::int32_t, std::vector<RankId>>> by_node;
    for (RankId r : group) {
      const std::int32_t node = job_.cluster.node_of(r);
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

  // Estimated time of one chunk's exchange (dispatch or combine: same size).
  SimTime exchange_time(const MoeLayerPlan& p, std::int64_t d, bool dh) const {
    const auto& group = job_.mapping.groups(GroupKind::ep).front();
    const Bytes bytes{split_share(dispatch_bytes(p, group.front()), d, 0)};
    if (!dh) return costs_.estimate(op(CommKind::all_to_all, CommGroup::ep, group, bytes));
    const TwoDh& sub = two_dh_.front();
    return costs_.estimate(op(CommKind::all_to_all, CommGroup::ep, sub.intra.front(), bytes)) +
           costs_.estimate(op(CommKind::all_to_all, CommGroup::ep, sub.inter.front(), bytes));
  }

  SimTime esp_time(const MoeLayerPlan& p, std::int64_t d) const {
    if (job_.layout.esp == 1) return SimTime::zero();
    const auto& group = job_.mapping.groups(GroupKind::esp).front();
    const Bytes bytes{split_share(dispatch_bytes(p, group.front()), d, 0) *
                      static_cast<std::int64_t>(group.size())};
    return costs_.estimate(op(CommKind::all_gather, CommGroup::esp, group, bytes));
  }

  SimTime expert_time(const MoeLayerPlan& p, std::int64_t d, Phase phase) const {
    const ModelSpec& m = job_.model;
    const std::int64_t h = m.expert_ffn_hidden / job_.layout.esp;
    const std::int64_t up = m.expert_ffn == ExpertFfn::swiglu ? 2 * h : h;
    SimTime t = SimTime::zero();
    for (std::int64_t tokens : p.expert_tokens.front()) {
      const std::int64_t c = split_share(tokens, d, 0);
      if (c == 0) continue;
      const int gemms = phase == Phase::backward ? 2 : 1;
      t += (costs_.duration(gemm(c, up, m.hidden)) + costs_.duration(gemm(c, m.hidden, h)))
               .scaled(gemms) +
           costs_.duration(
               memory_kernel(KernelKind::elementwise, c, h, (c * up + c * h) * elem_bytes()));
    }
    return t;
  }

  // Two-queue list schedule of one direction: comm runs D0..D(d-1) then C0..C(d-1).
  static SimTime pipeline(std::int64_t d, SimTime comm, SimTime expert) {
    SimTime comm_free = SimTime::zero();
    std::vector<SimTime> dispatched(static_cast<std::size_t>(d));
    for (std::int64_t i = 0; i < d; ++i) {
      comm_free += comm;
      dispatched[static_cast<std::size_t>(i)] = comm_free;
    }
    SimTime compute_free = SimTime::zero();
    for (std::int64_t i = 0; i < d; ++i) {
      compute_free = std::max(compute_free, dispatched[static_cast<std::size_t>(i)]) + expert;
      comm_free = std::max(comm_free, compute_free) + comm;
    }
    return comm_free;
  }

  SimTime evaluate(const MoeLayerPlan& p, std::int64_t d, bool dh) const {
    const SimTime comm = exchange_time(p, d, dh) + esp_time(p, d);
    return pipeline(d, comm, expert_time(p, d, Phase::forward)) +
           pipeline(d, comm, expert_time(p, d, Phase::backward));
  }

  void emit_exchange(const Step& s, const MoeLayerPlan& p, bool combine, std::int64_t chunk) {
    const std::string_view name = s.phase == Phase::forward
                                      ? (combine ? "ep.combine" : "ep.dispatch")
                                      : (combine ? "ep.dispatch.bwd" : "ep.combine.bwd");
    if (!use_2dh_) {
      emit_expert_exchange(s, p, combine, name, comm_, chunk, degree_);
      return;
    }
    for (const std::vector<RankId>* g : stage_groups(GroupKind::ep, s.stage)) {
      const TwoDh& sub = two_dh_[ep_group_index(g->front())];
      const Bytes bytes{split_share(dispatch_bytes(p, g->front()), degree_, chunk)};
      const auto intra = [&] {
        for (const auto& i : sub.intra) {
          collective(fmt::format("{}.intra", name),
                     op(CommKind::all_to_all, CommGroup::ep, i, bytes), comm_);
        }
      };
      const auto inter = [&] {
        for (const auto& i : sub.inter) {
          collective(fmt::format("{}.inter", name),
                     op(CommKind::all_to_all, CommGroup::ep, i, bytes), comm_);
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
    const auto world = static_cast<std::size_t>(job_.layout.world());
    std::vector<std::vector<TaskId>> start(world);
    for (RankId r : *s.ranks) start[r.index()] = frontier(r);
    std::vector<std::vector<std::vector<TaskId>>> dispatched(
        static_cast<std::size_t>(degree_), std::vector<std::vector<TaskId>>(world));
    for (std::int64_t c = 0; c < degree_; ++c) {
      for (RankId r : *s.ranks) frontier(r) = start[r.index()];
      emit_exchange(s, p, false, c);
      emit_esp_collective(s, p, true, "esp.allgather", comm_, c, degree_);
      for (RankId r : *s.ranks) dispatched[static_cast<std::size_t>(c)][r.index()] = frontier(r);
    }
    for (std::int64_t c = 0; c < degree_; ++c) {
      for (RankId r : *s.ranks) {
        frontier(r) = dispatched[static_cast<std::size_t>(c)][r.index()];
        std::vector<std::int64_t> tokens = p.expert_tokens[r.index()];
        for (auto& t : tokens) t = split_share(t, degree_, c);
        emit_experts(r, tokens, phase, compute_);
      }
      emit_esp_collective(s, p, false, "esp.reducescatter", comm_, c, degree_);
      emit_exchange(s, p, true, c);
    }
  }

  std::vector<TwoDh> two_dh_;
  std::int64_t degree_ = 1;
  bool use_2dh_ = false;
};

class Tutel final : public Strategy {
 public:
  Tutel(std::string name, TokenLayout tokens) : name_(std::move(name)), tokens_(tokens) {}
  std::string_view name() const override { return name_; }
  std::string_view summary() const override {
    return "Tutel: capacity-chunked A2A/expert pipeline, degree d in {1,2,4,8} and linear/2DH "
           "all-to-all chosen by its cost evaluation";
  }
  BuildResult build_iteration(const TrainingJob& job, const CostModels& costs) const override {
    IterationBuilder::Options options;
    options.pad_to_capacity = true;
    options.split_tokens_over_tp = split_tokens_over_tp(tokens_, job.layout.tp, job.layout.esp);
    TutelBuilder builder(job, costs, options);
    builder.plan_schedule();
    return builder.build();
  }

 private:
  std::string name_;
  TokenLayout tokens_;
};

}  // namespace

std::unique_ptr<Strategy> make_tutel() {
  return std::make_unique<Tutel>("tutel", TokenLayout::real_system);
}

std::unique_ptr<Strategy> configure_tutel(StrategyOptions& options) {
  const TokenLayout tokens = read_token_layout(options);
  return std::make_unique<Tutel>(options.empty() ? "tutel" : "tutel:" + options.text(), tokens);
}

}  // namespace moesim::strategies
