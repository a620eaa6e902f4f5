// ExecutionRecord: what happened when a TaskGraph ran, one entry per task. The simulated
// executor (sim/exec) and the hardware executor (kernels/runtime) both write it, so reports,
// traces and prediction-vs-measurement diffs work the same on either.
//
// Times are relative to the start of the iteration (the first task of the graph starts at or
// after zero). Entries are indexed by TaskId.
#pragma once

#include <string>
#include <vector>

#include "sim/core/ids.hpp"
#include "sim/core/sim_time.hpp"
#include "sim/core/units.hpp"

namespace moesim {

struct TaskRecord {
  RankId rank;
  StreamId stream;
  SimTime start;
  SimTime end;
  Bytes bytes;
  Flops flops;
};

struct ExecutionRecord {
  /// "simulated" or "measured".
  std::string source;
  /// What produced it: the models (simulated) or the GPU, driver and library versions (measured).
  std::string description;
  std::vector<TaskRecord> tasks;

  /// End of the last task.
  SimTime makespan() const;
};

}  // namespace moesim
