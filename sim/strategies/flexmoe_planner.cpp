#include "sim/strategies/flexmoe_planner.hpp"

#include <algorithm>

#include "sim/core/errors.hpp"
#include "sim/workload/routing.hpp"

namespace moesim::strategies::flexmoe {

Placement Placement::initial(std::int64_t experts, std::int64_t gpus, std::int64_t slots_per_gpu) {
  MOESIM_CHECK(experts % gpus == 0 && slots_per_gpu >= experts / gpus, "bad placement {} {} {}",
               experts, gpus, slots_per_gpu);
  Placement p;
  p.gpus = gpus;
  p.slots_per_gpu = slots_per_gpu;
  p.replicas.resize(static_cast<std::size_t>(experts));
  for (std::int64_t e = 0; e < experts; ++e) {
    p.replicas[static_cast<std::size_t>(e)] = {e / (experts / gpus)};
  }
  return p;
}

std::int64_t Placement::used(std::int64_t gpu) const {
  std::int64_t n = 0;
  for (const auto& r : replicas) n += std::count(r.begin(), r.end(), gpu);
  return n;
}

bool Placement::holds(std::int64_t gpu, std::int64_t expert) const {
  const auto& r = replicas[static_cast<std::size_t>(expert)];
  return std::find(r.begin(), r.end(), gpu) != r.end();
}

std::vector<std::int64_t> Placement::experts_on(std::int64_t gpu) const {
  std::vector<std::int64_t> out;
  for (std::size_t e = 0; e < replicas.size(); ++e) {
    if (holds(gpu, static_cast<std::int64_t>(e))) out.push_back(static_cast<std::int64_t>(e));
  }
  return out;
}

std::string_view to_string(MoveKind k) {
  switch (k) {
    case MoveKind::expand:
      return "expand";
    case MoveKind::shrink:
      return "shrink";
    case MoveKind::migrate:
      return "migrate";
  }
  return "?";
}

namespace {

// `total` split in proportion to `weights` (sum > 0 unless total == 0), largest remainders
// first (ties: lower index), so the shares sum to `total` exactly.
std::vector<std::int64_t> apportion(std::int64_t total, const std::vector<std::int64_t>& weights) {
  std::vector<std::int64_t> out(weights.size(), 0);
  std::int64_t sum = 0;
  for (std::int64_t w : weights) sum += w;
  if (total <= 0 || sum <= 0) return out;
  MOESIM_CHECK(total <= sum, "apportion {} over weights summing to {}", total, sum);
  std::vector<std::pair<std::int64_t, std::size_t>> rest;
  std::int64_t given = 0;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    const std::int64_t exact = weights[i] * total;  // token counts: products far below 2^63
    out[i] = exact / sum;
    given += out[i];
    rest.emplace_back(exact % sum, i);
  }
  std::stable_sort(rest.begin(), rest.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t i = 0; given < total; ++i, ++given) ++out[rest[i].second];
  return out;
}

}  // namespace

Routed route(const std::vector<std::vector<std::int64_t>>& demand, const Placement& placement,
             const std::vector<std::int32_t>& node_of) {
  const auto g = static_cast<std::size_t>(placement.gpus);
  const std::size_t experts = placement.replicas.size();
  Routed out;
  out.sent.assign(g, std::vector<std::int64_t>(g, 0));
  out.computed.assign(g, std::vector<std::int64_t>(experts, 0));
  out.load.assign(g, 0);
  for (std::size_t e = 0; e < experts; ++e) {
    const auto& reps = placement.replicas[e];
    const auto n = static_cast<std::int64_t>(reps.size());
    std::int64_t total = 0;
    for (std::size_t s = 0; s < g; ++s) total += demand[s][e];
    std::vector<std::int64_t> quota(reps.size());
    for (std::size_t j = 0; j < reps.size(); ++j) {
      quota[j] = split_share(total, n, static_cast<std::int64_t>(j));
    }
    std::vector<std::int64_t> left(g);
    for (std::size_t s = 0; s < g; ++s) left[s] = demand[s][e];
    const auto give = [&](std::size_t s, std::size_t j, std::int64_t t) {
      if (t <= 0) return;
      left[s] -= t;
      quota[j] -= t;
      const auto dst = static_cast<std::size_t>(reps[j]);
      out.sent[s][dst] += t;
      out.computed[dst][e] += t;
      out.load[dst] += t;
    };
    // Own GPU first.
    for (std::size_t j = 0; j < reps.size(); ++j) {
      const auto own = static_cast<std::size_t>(reps[j]);
      give(own, j, std::min(left[own], quota[j]));
    }
    // Then same node, then anywhere. Each pass moves min(what the eligible senders have left,
    // what the eligible replicas still need); the replicas take it in proportion to their open
    // quotas and each takes from the senders in proportion to what they have left. So a node's
    // import is spread over its replicas and its export over its senders, instead of the last
    // replica in position order receiving all of it (which made that GPU's NIC the all-to-all's
    // bottleneck and expanding a hot expert look, and be, slower).
    const auto pass = [&](const std::vector<std::size_t>& senders,
                          const std::vector<std::size_t>& targets) {
      std::vector<std::int64_t> open(targets.size());
      std::int64_t have = 0, need = 0;
      for (std::size_t s : senders) have += left[s];
      for (std::size_t i = 0; i < targets.size(); ++i) need += open[i] = quota[targets[i]];
      const std::vector<std::int64_t> takes = apportion(std::min(have, need), open);
      for (std::size_t i = 0; i < targets.size(); ++i) {
        std::vector<std::int64_t> avail;
        for (std::size_t s : senders) avail.push_back(left[s]);
        const std::vector<std::int64_t> from = apportion(takes[i], avail);
        for (std::size_t k = 0; k < senders.size(); ++k) give(senders[k], targets[i], from[k]);
      }
    };
    std::vector<std::int32_t> nodes(node_of.begin(),
                                    node_of.begin() + static_cast<std::ptrdiff_t>(g));
    std::sort(nodes.begin(), nodes.end());
    nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
    for (std::int32_t node : nodes) {
      std::vector<std::size_t> senders, targets;
      for (std::size_t s = 0; s < g; ++s) {
        if (node_of[s] == node) senders.push_back(s);
      }
      for (std::size_t j = 0; j < reps.size(); ++j) {
        if (node_of[static_cast<std::size_t>(reps[j])] == node) targets.push_back(j);
      }
      pass(senders, targets);
    }
    std::vector<std::size_t> all(g), every(reps.size());
    for (std::size_t s = 0; s < g; ++s) all[s] = s;
    for (std::size_t j = 0; j < reps.size(); ++j) every[j] = j;
    pass(all, every);
  }
  return out;
}

double balance_ratio(const Routed& routed) {
  std::int64_t max = 0, sum = 0;
  for (std::int64_t l : routed.load) {
    max = std::max(max, l);
    sum += l;
  }
  if (sum == 0) return 1.0;
  return static_cast<double>(max) * static_cast<double>(routed.load.size()) /
         static_cast<double>(sum);
}

CostBreakdown iteration_cost(const std::vector<std::vector<std::int64_t>>& demand,
                             const Placement& placement, const CostParams& params) {
  const Routed r = route(demand, placement, params.node_of);
  const auto g = static_cast<std::size_t>(placement.gpus);
  CostBreakdown c;
  std::int64_t max_load = 0;
  for (std::int64_t l : r.load) max_load = std::max(max_load, l);
  c.compute = params.per_token.scaled(static_cast<double>(max_load));
  double worst = 0.0;
  for (std::size_t x = 0; x < g; ++x) {
    std::int64_t out_intra = 0, out_inter = 0, in_intra = 0, in_inter = 0;
    for (std::size_t y = 0; y < g; ++y) {
      if (x == y) continue;
      const bool intra = params.node_of[x] == params.node_of[y];
      (intra ? out_intra : out_inter) += r.sent[x][y];
      (intra ? in_intra : in_inter) += r.sent[y][x];
    }
    const double bytes = static_cast<double>(params.token_bytes);
    const double t =
        static_cast<double>(std::max(out_intra, in_intra)) * bytes / params.a2a_intra_bytes_per_s +
        static_cast<double>(std::max(out_inter, in_inter)) * bytes / params.a2a_inter_bytes_per_s;
    worst = std::max(worst, t);
  }
  c.a2a = SimTime::from_seconds(4.0 * worst);
  double sync = 0.0;
  for (const auto& reps : placement.replicas) {
    if (reps.size() < 2) continue;
    bool spans = false;
    for (std::int64_t x : reps) {
      spans = spans || params.node_of[static_cast<std::size_t>(x)] !=
                           params.node_of[static_cast<std::size_t>(reps.front())];
    }
    const double n = static_cast<double>(reps.size());
    sync += 2.0 * (n - 1.0) / n * static_cast<double>(params.expert_bytes) /
            (spans ? params.inter_bytes_per_s : params.intra_bytes_per_s);
  }
  c.sync = SimTime::from_seconds(sync);
  return c;
}

SimTime move_time(const std::vector<Move>& moves, const CostParams& params) {
  double t = 0.0;
  for (const Move& m : moves) {
    if (m.kind == MoveKind::shrink) continue;
    const bool intra = params.node_of[static_cast<std::size_t>(m.from)] ==
                       params.node_of[static_cast<std::size_t>(m.to)];
    t += static_cast<double>(params.move_bytes) /
         (intra ? params.intra_bytes_per_s : params.inter_bytes_per_s);
  }
  return SimTime::from_seconds(t);
}

namespace {

void add_replica(Placement& p, std::int64_t e, std::int64_t gpu) {
  auto& r = p.replicas[static_cast<std::size_t>(e)];
  r.insert(std::upper_bound(r.begin(), r.end(), gpu), gpu);
}

void remove_replica(Placement& p, std::int64_t e, std::int64_t gpu) {
  auto& r = p.replicas[static_cast<std::size_t>(e)];
  r.erase(std::find(r.begin(), r.end(), gpu));
}

// The replica of `e` to copy from for a new replica on `to`: same node first, else the first.
std::int64_t copy_source(const Placement& p, std::int64_t e, std::int64_t to,
                         const std::vector<std::int32_t>& node_of) {
  const auto& r = p.replicas[static_cast<std::size_t>(e)];
  for (std::int64_t x : r) {
    if (node_of[static_cast<std::size_t>(x)] == node_of[static_cast<std::size_t>(to)]) return x;
  }
  return r.front();
}

struct Candidate {
  Placement placement;
  std::vector<Move> moves;
};

}  // namespace

PolicyResult make_scheduling_plan(const std::vector<std::vector<std::int64_t>>& demand,
                                  const Placement& start, const CostParams& params, int max_steps) {
  PolicyResult out{start, {}};
  const std::int64_t gpus = start.gpus;
  const auto experts = static_cast<std::int64_t>(start.replicas.size());
  std::vector<std::int64_t> total(static_cast<std::size_t>(experts), 0);
  for (const auto& row : demand) {
    for (std::int64_t e = 0; e < experts; ++e)
      total[static_cast<std::size_t>(e)] += row[static_cast<std::size_t>(e)];
  }
  SimTime current = iteration_cost(demand, out.placement, params).total();
  for (int step = 0; step < max_steps; ++step) {
    const Placement& p = out.placement;
    const Routed routed = route(demand, p, params.node_of);
    const auto per_replica = [&](std::int64_t e) {
      return static_cast<double>(total[static_cast<std::size_t>(e)]) /
             static_cast<double>(p.replicas[static_cast<std::size_t>(e)].size());
    };
    // GPUs by load, least loaded first (ties: lower position).
    std::vector<std::int64_t> by_load(static_cast<std::size_t>(gpus));
    for (std::int64_t x = 0; x < gpus; ++x) by_load[static_cast<std::size_t>(x)] = x;
    std::stable_sort(by_load.begin(), by_load.end(), [&](std::int64_t a, std::int64_t b) {
      return routed.load[static_cast<std::size_t>(a)] < routed.load[static_cast<std::size_t>(b)];
    });
    std::vector<Candidate> candidates;
    // Expand the hottest expert (by load per replica).
    std::int64_t hot = -1;
    for (std::int64_t e = 0; e < experts; ++e) {
      if (static_cast<std::int64_t>(p.replicas[static_cast<std::size_t>(e)].size()) >= gpus)
        continue;
      if (hot < 0 || per_replica(e) > per_replica(hot)) hot = e;
    }
    if (hot >= 0 && total[static_cast<std::size_t>(hot)] > 0) {
      std::int64_t target = -1;
      for (std::int64_t x : by_load) {
        if (!p.holds(x, hot) && p.used(x) < p.slots_per_gpu) {
          target = x;
          break;
        }
      }
      Candidate c{p, {}};
      if (target < 0) {
        // Shrink: the coldest replicated expert gives up its replica on the most loaded GPU
        // that does not hold the hot one.
        std::int64_t cold = -1;
        for (std::int64_t e = 0; e < experts; ++e) {
          if (e == hot || p.replicas[static_cast<std::size_t>(e)].size() < 2) continue;
          if (cold < 0 || per_replica(e) < per_replica(cold)) cold = e;
        }
        if (cold >= 0) {
          const auto& reps = p.replicas[static_cast<std::size_t>(cold)];
          for (auto it = by_load.rbegin(); it != by_load.rend(); ++it) {
            if (std::find(reps.begin(), reps.end(), *it) != reps.end() && !p.holds(*it, hot)) {
              target = *it;
              break;
            }
          }
          if (target >= 0) {
            remove_replica(c.placement, cold, target);
            c.moves.push_back({MoveKind::shrink, cold, target, -1});
          }
        }
      }
      if (target >= 0) {
        const std::int64_t src = copy_source(p, hot, target, params.node_of);
        add_replica(c.placement, hot, target);
        c.moves.push_back({MoveKind::expand, hot, src, target});
        candidates.push_back(std::move(c));
      }
    }
    // Migrate the busiest vExpert of the most loaded GPU to the least loaded GPU with a slot.
    const std::int64_t busiest = by_load.back();
    std::int64_t mover = -1;
    for (std::int64_t e : p.experts_on(busiest)) {
      const auto& cmp = routed.computed[static_cast<std::size_t>(busiest)];
      if (mover < 0 || cmp[static_cast<std::size_t>(e)] > cmp[static_cast<std::size_t>(mover)]) {
        mover = e;
      }
    }
    if (mover >= 0) {
      for (std::int64_t x : by_load) {
        if (x == busiest) break;
        if (p.holds(x, mover) || p.used(x) >= p.slots_per_gpu) continue;
        Candidate c{p, {}};
        remove_replica(c.placement, mover, busiest);
        add_replica(c.placement, mover, x);
        c.moves.push_back({MoveKind::migrate, mover, busiest, x});
        candidates.push_back(std::move(c));
        break;
      }
    }
    const Candidate* best = nullptr;
    SimTime best_time = current;
    SimTime best_plain = current;
    for (const Candidate& c : candidates) {
      const SimTime plain = iteration_cost(demand, c.placement, params).total();
      const SimTime t = plain + move_time(c.moves, params).scaled(1.0 / params.amortize_iterations);
      if (t < best_time) {
        best = &c;
        best_time = t;
        best_plain = plain;
      }
    }
    if (best == nullptr) break;
    out.placement = best->placement;
    out.moves.insert(out.moves.end(), best->moves.begin(), best->moves.end());
    current = best_plain;
  }
  return out;
}

}  // namespace moesim::strategies::flexmoe
