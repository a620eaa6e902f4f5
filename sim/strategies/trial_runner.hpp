// TrialRunner: runs a candidate iteration graph through the simulated executor, for planners that
// choose as their system does at run time, by timing trial iterations of each candidate (Tutel's
// adaptive pipelining). A trial prices everything the executor charges, including what an
// analytic estimate cannot see (the DDP gradient buckets in flight beside a layer's backward
// exchanges: docs/planner-audit.md). The job layer gives one to every build (sim/job); tests and
// benches that build with bare CostModels have none, and planners then decide on their estimates.
#pragma once

#include <vector>

#include "sim/core/sim_time.hpp"
#include "sim/workload/task_graph.hpp"

namespace moesim::strategies {

class TrialRunner {
 public:
  virtual ~TrialRunner() = default;
  /// When each task of `graph` (which must pass TaskGraph::validate()) ends, indexed by TaskId,
  /// when it runs alone on the job's cluster from time zero.
  virtual std::vector<SimTime> task_ends(const TaskGraph& graph) const = 0;
};

}  // namespace moesim::strategies
