#include "sim/report/stream_timeline.hpp"

#include <algorithm>
#include <map>
#include <unordered_map>
#include <utility>

namespace moesim::report {
namespace {

std::string category_of(const TaskGraph& graph, const Task& t) {
  if (t.kind == TaskKind::compute) return "compute";
  if (const auto c = graph.comm_of(t)) {
    return "comm " + std::string(to_string(graph.comm(*c).op.group));
  }
  return "delay";
}

std::uint32_t intern(std::vector<std::string>& names,
                     std::unordered_map<std::string, std::uint32_t>& index, std::string name) {
  const auto [it, added] = index.try_emplace(name, static_cast<std::uint32_t>(names.size()));
  if (added) names.push_back(std::move(name));
  return it->second;
}

}  // namespace

std::vector<RankId> timeline_ranks(const IterationSummary& summary) {
  if (summary.per_rank.empty()) return {};
  std::size_t last = 0;
  for (std::size_t r = 1; r < summary.per_rank.size(); ++r) {
    if (summary.per_rank[r].end > summary.per_rank[last].end) last = r;
  }
  std::vector<RankId> ranks{RankId{0}};
  if (last != 0) ranks.push_back(RankId{static_cast<std::uint32_t>(last)});
  return ranks;
}

StreamTimeline stream_timeline(const TaskGraph& graph, const ExecutionRecord& record,
                               const std::vector<RankId>& ranks) {
  StreamTimeline out;
  out.ranks = ranks;
  std::map<RankId, std::size_t> rank_order;
  for (std::size_t i = 0; i < ranks.size(); ++i) rank_order.try_emplace(ranks[i], i);
  // Rows: (position of the rank in `ranks`, stream id) of every task of a chosen rank.
  std::map<std::pair<std::size_t, std::uint32_t>, std::uint32_t> row_of;
  for (const Task& t : graph.tasks()) {
    const auto it = rank_order.find(t.rank);
    if (it != rank_order.end()) row_of.try_emplace({it->second, t.stream.value}, 0);
  }
  for (auto& [key, row] : row_of) {
    row = static_cast<std::uint32_t>(out.rows.size());
    out.rows.push_back({ranks[key.first], std::string(graph.stream_name(StreamId{key.second}))});
  }
  std::unordered_map<std::string, std::uint32_t> category_index;
  std::unordered_map<std::string, std::uint32_t> name_index;
  for (std::size_t i = 0; i < graph.task_count(); ++i) {
    const Task& t = graph.tasks()[i];
    const auto it = rank_order.find(t.rank);
    if (it == rank_order.end()) continue;
    const TaskRecord& r = record.tasks[i];
    TimelineSpan s;
    s.row = row_of.at({it->second, t.stream.value});
    s.start = r.start;
    s.end = r.end;
    s.category = intern(out.categories, category_index, category_of(graph, t));
    s.name = intern(out.names, name_index, graph.names()[t.name]);
    out.spans.push_back(s);
  }
  return out;
}

}  // namespace moesim::report
