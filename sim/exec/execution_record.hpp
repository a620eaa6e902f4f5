// ExecutionRecord: what happened when a TaskGraph ran, one entry per task. The simulated
// executor (sim/exec) and the hardware executor (kernels/runtime) both write it, so reports,
// traces and prediction-vs-measurement diffs work the same on either.
//
// Times are relative to the start of the iteration (the first task of the graph starts at or
// after zero). Entries are indexed by TaskId. A record holds only what the run decided, when each
// task started and ended: the task's rank, stream, bytes and FLOPs are the graph's (read them
// there), so the 22.6 M entries of a DeepSeek-V3 iteration take 16 bytes each.
#pragma once

#include <string>
#include <vector>

#include "sim/core/sim_time.hpp"

namespace moesim {

struct TaskRecord {
  SimTime start;
  SimTime end;
};
static_assert(sizeof(TaskRecord) == 16,
              "a record entry is two times: 22 M of them are one iteration");

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
