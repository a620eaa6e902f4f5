#include "sim/report/comm_breakdown.hpp"

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

namespace moesim::report {

std::map<std::string, GroupCommTime> comm_breakdown(const TaskGraph& graph,
                                                    const ExecutionRecord& record) {
  using BusySpan = std::pair<std::int64_t, std::int64_t>;
  const std::size_t ranks = graph.rank_count();
  // Merged kernel intervals per rank.
  std::vector<std::vector<BusySpan>> busy(ranks);
  for (std::size_t i = 0; i < graph.task_count(); ++i) {
    if (graph.tasks()[i].kind == TaskKind::compute) {
      const TaskRecord& t = record.tasks[i];
      busy[graph.tasks()[i].rank.index()].emplace_back(t.start.ps(), t.end.ps());
    }
  }
  for (auto& v : busy) {
    std::sort(v.begin(), v.end());
    std::vector<BusySpan> merged;
    for (const BusySpan& i : v) {
      if (!merged.empty() && i.first <= merged.back().second) {
        merged.back().second = std::max(merged.back().second, i.second);
      } else {
        merged.push_back(i);
      }
    }
    v = std::move(merged);
  }
  std::map<std::string, GroupCommTime> out;
  for (const CommRecord& c : graph.comms()) {
    GroupCommTime& g = out[std::string(to_string(c.op.group))];
    g.operations += 1;
    g.bytes += c.op.bytes.count;
    for (TaskId m : c.members) {
      const TaskRecord& t = record.tasks[m.index()];
      const auto& v = busy[graph.task(m).rank.index()];
      const std::int64_t a = t.start.ps();
      const std::int64_t b = t.end.ps();
      std::int64_t covered = 0;
      auto it = std::upper_bound(v.begin(), v.end(),
                                 BusySpan{a, std::numeric_limits<std::int64_t>::max()});
      if (it != v.begin()) --it;
      for (; it != v.end() && it->first < b; ++it) {
        covered += std::max<std::int64_t>(0, std::min(b, it->second) - std::max(a, it->first));
      }
      g.overlapped_us += static_cast<double>(covered) * 1e-6;
      g.exposed_us += static_cast<double>(b - a - covered) * 1e-6;
    }
  }
  for (auto& [name, g] : out) {
    g.exposed_us /= static_cast<double>(ranks);
    g.overlapped_us /= static_cast<double>(ranks);
  }
  return out;
}

}  // namespace moesim::report
