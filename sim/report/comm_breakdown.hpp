// Communication time per group (tp, ep, esp, dp, ...), split into the part during which no
// kernel of the same rank runs (exposed: the schedule failed to hide it) and the rest
// (overlapped), averaged over ranks. Works on simulated and measured records alike.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "sim/exec/execution_record.hpp"
#include "sim/workload/task_graph.hpp"

namespace moesim::report {

struct GroupCommTime {
  double exposed_us = 0.0;     ///< mean over ranks
  double overlapped_us = 0.0;  ///< mean over ranks
  std::int64_t operations = 0;
  std::int64_t bytes = 0;  ///< sum of nccl-tests sizes
};

std::map<std::string, GroupCommTime> comm_breakdown(const TaskGraph& graph,
                                                    const ExecutionRecord& record);

}  // namespace moesim::report
