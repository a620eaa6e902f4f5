#include "sim/strategies/lancet_planner.hpp"

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <utility>

#include "sim/compute/overlap_contention.hpp"
#include "sim/core/errors.hpp"

namespace moesim::strategies::lancet {
namespace {
constexpr std::size_t kNoItem = ~std::size_t{0};
}  // namespace

SimTime pipeline_time(const std::vector<PipeInstr>& instrs, std::size_t begin, std::size_t end,
                      int k, const PartitionOverhead& overhead, SimTime* kernel_total) {
  MOESIM_CHECK(begin <= end && end <= instrs.size() && k >= 1, "bad range [{}, {}) k={}", begin,
               end, k);
  // Every instruction of every partition in issue order (stage by stage, partitions in index
  // order), with its dependency (the previous instruction of its partition).
  struct Item {
    std::size_t instr = 0;
    std::size_t after = kNoItem;  ///< index of the dependency, kNoItem: none
    SimTime wait = SimTime::zero();
    SimTime end = SimTime::zero();
  };
  std::vector<Item> items;
  std::vector<std::size_t> queue_items[2];  // [compute, comm]: items in issue order
  std::vector<std::size_t> partition_last(static_cast<std::size_t>(k), kNoItem);
  for (std::size_t stage = begin; stage < end;) {
    std::size_t stage_end = stage;
    while (stage_end < end && instrs[stage_end].comm == instrs[stage].comm) ++stage_end;
    for (std::size_t p = 0; p < static_cast<std::size_t>(k); ++p) {
      for (std::size_t i = stage; i < stage_end; ++i) {
        // The wait on the other queue's event precedes the stage's first instruction.
        const SimTime wait = i == stage && stage != begin ? overhead.queue_switch : SimTime::zero();
        items.push_back(Item{i, partition_last[p], wait, SimTime::zero()});
        partition_last[p] = items.size() - 1;
        queue_items[instrs[i].comm ? 1 : 0].push_back(items.size() - 1);
      }
    }
    stage = stage_end;
  }
  // Timed in the order they become ready, communication first: a kernel is priced once every
  // exchange that could overlap it is timed (one that starts while it runs depends only on what
  // ended before, through the comm queue), paying the contention for the part that overlaps
  // (compute::contended_end), as the executor charges it.
  const auto slot = static_cast<std::size_t>(k - 1);
  std::vector<compute::BusyInterval> comm_busy;
  std::vector<bool> timed(items.size(), false);
  std::size_t next[2] = {0, 0};
  SimTime queue_end[2] = {SimTime::zero(), SimTime::zero()};
  SimTime kernels = SimTime::zero();
  const auto ready = [&](int q) {
    const auto& list = queue_items[q];
    if (next[q] >= list.size()) return false;
    const Item& it = items[list[next[q]]];
    return it.after == kNoItem || timed[it.after];
  };
  const auto time_head = [&](int q) {
    Item& it = items[queue_items[q][next[q]++]];
    const PipeInstr& in = instrs[it.instr];
    const SimTime dep = it.after == kNoItem ? SimTime::zero() : items[it.after].end;
    const SimTime start = std::max(dep, queue_end[q]) + it.wait;
    if (in.comm || in.part_time_beside_comm.empty()) {
      it.end = start + in.part_time[slot];
    } else {
      it.end = compute::contended_end(start, in.part_time[slot], in.part_time_beside_comm[slot],
                                      comm_busy);
    }
    if (in.comm) {
      comm_busy.push_back({start, it.end});
    } else {
      kernels += it.end - start;
    }
    queue_end[q] = it.end;
    timed[static_cast<std::size_t>(&it - items.data())] = true;
  };
  for (;;) {
    while (ready(1)) time_head(1);
    if (!ready(0)) break;
    time_head(0);
  }
  MOESIM_CHECK(next[0] == queue_items[0].size() && next[1] == queue_items[1].size(),
               "lancet pipeline: {} of {} instructions never became ready", next[0] + next[1],
               items.size());
  SimTime out = SimTime::zero();
  for (std::size_t p : partition_last) {
    if (p != kNoItem) out = std::max(out, items[p].end);
  }
  if (kernel_total) *kernel_total = kernels;
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
