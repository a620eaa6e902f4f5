// IterationSummary: the numbers a user reads first after a run, computed from a TaskGraph and its
// ExecutionRecord (simulated or measured alike).
//
// Exposed communication on a rank is the time during which some communication of that rank runs
// and none of its kernels does: the part of communication that the schedule failed to hide.
// Overlapped communication is the rest of the communication time (the union of comm intervals
// minus the exposed part).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "sim/core/sim_time.hpp"
#include "sim/exec/execution_record.hpp"
#include "sim/workload/task_graph.hpp"

namespace moesim::report {

struct RankSummary {
  SimTime compute_busy;  ///< union of kernel intervals
  SimTime comm_busy;     ///< union of communication intervals
  SimTime exposed_comm;  ///< comm running while no kernel runs
  SimTime end;           ///< end of the rank's last task
};

struct GroupSummary {
  SimTime total;  ///< sum over operations of their duration (each op counted once)
  std::int64_t operations = 0;
  Bytes bytes;  ///< sum of nccl-tests sizes
};

struct IterationSummary {
  SimTime makespan;
  std::size_t tasks = 0;
  std::size_t comm_ops = 0;
  std::uint32_t ranks = 0;
  double total_flops = 0.0;
  std::vector<RankSummary> per_rank;
  std::map<std::string, GroupSummary> per_comm_group;  ///< "tp", "ep", ... (sorted: stable output)
  std::map<std::string, SimTime> per_kernel_kind;      ///< summed kernel time, all ranks
  std::map<std::string, SimTime> per_stream_busy;      ///< summed busy time, all ranks

  // Averages over ranks.
  SimTime mean_compute() const;
  SimTime mean_comm() const;
  SimTime mean_exposed_comm() const;
  SimTime max_exposed_comm() const;
  /// (slowest rank end - fastest rank end): load imbalance across ranks.
  SimTime rank_skew() const;
};

IterationSummary summarize(const TaskGraph& graph, const ExecutionRecord& record);

}  // namespace moesim::report
