// The tasks of a few chosen ranks, stream by stream: what the HTML report draws as a timeline
// (one row per rank and stream, one span per task, coloured by category). The whole graph is in
// the Perfetto trace (--trace); a report shows the ranks that explain the makespan.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/core/ids.hpp"
#include "sim/core/sim_time.hpp"
#include "sim/exec/execution_record.hpp"
#include "sim/report/iteration_summary.hpp"
#include "sim/workload/task_graph.hpp"

namespace moesim::report {

struct TimelineRow {
  RankId rank;
  std::string stream;
};

struct TimelineSpan {
  std::uint32_t row = 0;  ///< index into StreamTimeline::rows
  SimTime start;
  SimTime end;
  std::uint32_t category = 0;  ///< index into StreamTimeline::categories
  std::uint32_t name = 0;      ///< index into StreamTimeline::names
};

struct StreamTimeline {
  std::vector<RankId> ranks;
  std::vector<TimelineRow> rows;  ///< by rank (in `ranks` order), then stream id
  /// "compute", "comm <group>" (tp, ep, dp, ...) or "delay", in order of first appearance.
  std::vector<std::string> categories;
  std::vector<std::string> names;   ///< task names, interned
  std::vector<TimelineSpan> spans;  ///< in task order
};

/// Rank 0 and the rank that finishes last (the one the makespan waits for), once each.
std::vector<RankId> timeline_ranks(const IterationSummary& summary);

/// The tasks of `ranks` in `record`; rows only for streams those ranks use.
StreamTimeline stream_timeline(const TaskGraph& graph, const ExecutionRecord& record,
                               const std::vector<RankId>& ranks);

}  // namespace moesim::report
