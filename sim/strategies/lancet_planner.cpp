#include "sim/strategies/lancet_planner.hpp"

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <utility>

#include "sim/core/errors.hpp"

namespace moesim::strategies::lancet {

SimTime pipeline_time(const std::vector<PipeInstr>& instrs, std::size_t begin, std::size_t end,
                      int k, const PartitionOverhead& overhead) {
  MOESIM_CHECK(begin <= end && end <= instrs.size() && k >= 1, "bad range [{}, {}) k={}", begin,
               end, k);
  std::vector<SimTime> partition_end(static_cast<std::size_t>(k), SimTime::zero());
  SimTime queue_end[2] = {SimTime::zero(), SimTime::zero()};  // [compute, comm]
  // Communication instructions timed so far, [start, end): a compute instruction that starts
  // inside one runs beside it and pays the contention, as the executor charges at kernel start.
  // Instructions are timed in issue order (stage by stage), so a later stage's exchange that
  // would start first is not seen: in this pipeline a later exchange waits for the comm queue.
  std::vector<std::pair<SimTime, SimTime>> comm_busy;
  const auto beside_comm = [&](SimTime t) {
    return std::any_of(comm_busy.begin(), comm_busy.end(),
                       [t](const auto& c) { return c.first <= t && t < c.second; });
  };
  const auto slot = static_cast<std::size_t>(k - 1);
  std::size_t stage = begin;
  while (stage < end) {
    std::size_t stage_end = stage;
    while (stage_end < end && instrs[stage_end].comm == instrs[stage].comm) ++stage_end;
    SimTime& queue = queue_end[instrs[stage].comm ? 1 : 0];
    for (int p = 0; p < k; ++p) {
      SimTime& dep = partition_end[static_cast<std::size_t>(p)];
      for (std::size_t i = stage; i < stage_end; ++i) {
        const SimTime start = std::max(dep, queue);
        // The wait on the other queue's event precedes the stage's first instruction.
        const SimTime wait = i == stage && stage != begin ? overhead.queue_switch : SimTime::zero();
        const PipeInstr& in = instrs[i];
        const bool slowed =
            !in.comm && !in.part_time_beside_comm.empty() && beside_comm(start + wait);
        dep = start + wait + (slowed ? in.part_time_beside_comm[slot] : in.part_time[slot]);
        if (in.comm) comm_busy.emplace_back(start + wait, dep);
        queue = dep;
      }
    }
    stage = stage_end;
  }
  SimTime out = SimTime::zero();
  for (SimTime t : partition_end) out = std::max(out, t);
  return out;
}

PartitionPlan plan_partitions(const std::vector<PipeInstr>& instrs,
                              const std::vector<std::size_t>& cuts, int max_partitions,
                              bool allow_before_moe, const PartitionOverhead& overhead) {
  MOESIM_CHECK(cuts.size() >= 2 && cuts.front() == 0 && cuts.back() == instrs.size(),
               "cuts must span [0, {}]", instrs.size());
  std::size_t moe_first = instrs.size(), moe_last = 0;
  for (std::size_t i = 0; i < instrs.size(); ++i) {
    if (instrs[i].moe) {
      moe_first = std::min(moe_first, i);
      moe_last = i;
    }
  }
  const bool has_moe = moe_first < instrs.size();
  const std::size_t n = cuts.size();
  std::vector<SimTime> best(n, SimTime::max());
  std::vector<RangeChoice> choice(n);
  std::vector<std::size_t> from(n, 0);
  best[0] = SimTime::zero();
  for (std::size_t j = 1; j < n; ++j) {
    for (std::size_t i = 0; i < j; ++i) {
      if (best[i] == SimTime::max()) continue;
      const std::size_t b = cuts[i], e = cuts[j];
      const bool holds_some = has_moe && b <= moe_last && e > moe_first;
      if (holds_some && (b > moe_first || e <= moe_last)) continue;  // MoE cut in two
      for (int k = 1; k <= max_partitions; ++k) {
        if (holds_some && k > 1 && !allow_before_moe && b != moe_first) continue;
        const SimTime t = best[i] + pipeline_time(instrs, b, e, k, overhead);
        if (t < best[j]) {
          best[j] = t;
          choice[j] = RangeChoice{b, e, k};
          from[j] = i;
        }
      }
    }
  }
  MOESIM_CHECK(best[n - 1] != SimTime::max(), "no valid partition of {} instructions",
               instrs.size());
  PartitionPlan plan;
  plan.time = best[n - 1];
  for (std::size_t j = n - 1; j > 0; j = from[j]) plan.ranges.push_back(choice[j]);
  std::reverse(plan.ranges.begin(), plan.ranges.end());
  return plan;
}

std::vector<bool> unrelated_to(const std::vector<std::vector<std::size_t>>& succ,
                               std::size_t node) {
  const std::size_t n = succ.size();
  std::vector<std::vector<std::size_t>> pred(n);
  for (std::size_t v = 0; v < n; ++v) {
    for (std::size_t w : succ[v]) pred[w].push_back(v);
  }
  std::vector<bool> related(n, false);
  related[node] = true;
  using Edges = std::vector<std::vector<std::size_t>>;
  for (const Edges* edges : {&succ, static_cast<const Edges*>(&pred)}) {
    std::vector<bool> seen(n, false);
    std::deque<std::size_t> queue{node};
    while (!queue.empty()) {
      const std::size_t v = queue.front();
      queue.pop_front();
      for (std::size_t w : (*edges)[v]) {
        if (seen[w]) continue;
        seen[w] = true;
        related[w] = true;
        queue.push_back(w);
      }
    }
  }
  std::vector<bool> out(n);
  for (std::size_t v = 0; v < n; ++v) out[v] = !related[v];
  return out;
}

std::vector<int> best_fit_assign(const std::vector<SimTime>& a2a_time,
                                 const std::vector<SimTime>& dw_time,
                                 const std::vector<std::vector<bool>>& eligible) {
  std::vector<int> assigned(dw_time.size(), -1);
  for (std::size_t a = 0; a < a2a_time.size(); ++a) {
    SimTime remaining = a2a_time[a];
    while (remaining > SimTime::zero()) {
      std::size_t pick = dw_time.size();
      std::int64_t best_gap = 0;
      for (std::size_t w = 0; w < dw_time.size(); ++w) {
        if (assigned[w] != -1 || !eligible[a][w]) continue;
        const std::int64_t gap = std::llabs((remaining - dw_time[w]).ps());
        if (pick == dw_time.size() || gap < best_gap) {
          pick = w;
          best_gap = gap;
        }
      }
      if (pick == dw_time.size()) break;
      assigned[pick] = static_cast<int>(a);
      remaining -= dw_time[pick];
    }
  }
  return assigned;
}

}  // namespace moesim::strategies::lancet
