// SimulatedExecutor: runs a TaskGraph in simulated time and returns its ExecutionRecord.
//
// A task becomes ready when its stream predecessor and all its explicit dependencies have ended.
// A ready kernel or delay starts at once (its stream is free, since the stream predecessor has
// ended). A kernel runs at the rate the ComputeModel gives for its GPU's current context (the
// communication running there): whenever an operation starts or ends on that GPU, its running
// kernels continue the rest of their work at the new rate (compute/overlap_contention.hpp), so
// overlap contention is charged for the time the kernel overlaps communication, not by a
// snapshot at its start. A ready communication member waits until every
// member of its operation is ready; then the CommunicationModel runs the operation and all
// members end when it completes. If tasks remain when nothing can move, the executor throws
// SimulationError naming a dependency cycle or the blocked stream heads.
#pragma once

#include <cstddef>
#include <cstdint>

#include "sim/compute/compute_model.hpp"
#include "sim/exec/execution_record.hpp"
#include "sim/network/communication_model.hpp"
#include "sim/workload/task_graph.hpp"

namespace moesim {

struct ExecutionStats {
  std::uint64_t events = 0;
};

/// Told how far a run has got: long runs (tens of millions of tasks) print progress from it.
class ExecutionProgressListener {
 public:
  virtual ~ExecutionProgressListener() = default;
  /// Called every kProgressTasks finished tasks and once at the end.
  virtual void tasks_finished(std::size_t finished, std::size_t total) = 0;
};

class SimulatedExecutor {
 public:
  /// A listener is told every this many finished tasks: a few hundred calls for the largest
  /// graphs, none for the small ones a test or a sweep case builds.
  static constexpr std::size_t kProgressTasks = std::size_t{1} << 18;

  SimulatedExecutor(const compute::ComputeModel& compute, network::CommunicationModel& network,
                    ExecutionProgressListener* progress = nullptr)
      : compute_(compute), network_(network), progress_(progress) {}

  /// Runs `graph` (which must pass TaskGraph::validate()) from time zero.
  ExecutionRecord run(const TaskGraph& graph, ExecutionStats* stats = nullptr);

 private:
  const compute::ComputeModel& compute_;
  network::CommunicationModel& network_;
  ExecutionProgressListener* progress_;
};

}  // namespace moesim
