// GraphBuilder: adds tasks to a TaskGraph with their dependencies named at the call, Taskflow's
// way: every add returns the task's handle, and `precede(a, b)` / `succeed(b, a)` order two
// tasks. Nothing is remembered between calls: which tasks an op waits for is the caller's
// explicit argument. Edges a stream already implies (an earlier task of the same rank and stream)
// are not added.
#pragma once

#include <string_view>
#include <vector>

#include "sim/workload/task_graph.hpp"

namespace moesim::strategies {

/// The tasks an op waits for.
using After = std::vector<TaskId>;

/// Per rank, the tasks the next op of that rank waits for, inside one (stage, micro-batch) item
/// of the iteration: a value the emitting code passes along explicitly, copies to fork (chunks,
/// partitions, steps) and joins (`join`) where the forks meet.
class Chain {
 public:
  explicit Chain(std::size_t ranks = 0) : at_(ranks) {}
  After& operator[](RankId r) { return at_[r.index()]; }
  const After& operator[](RankId r) const { return at_[r.index()]; }
  /// `r`'s next op waits for `t` only.
  void set(RankId r, TaskId t) { at_[r.index()].assign(1, t); }
  /// `r`'s next op also waits for `more`.
  void join(RankId r, const After& more) {
    auto& a = at_[r.index()];
    a.insert(a.end(), more.begin(), more.end());
  }

 private:
  std::vector<After> at_;
};

class GraphBuilder {
 public:
  explicit GraphBuilder(TaskGraph& graph) : graph_(graph) {}

  /// A kernel on `rank`'s `stream` that starts after every task of `after`.
  TaskId kernel(RankId rank, std::string_view name, const ComputeTask& task, StreamId stream,
                TaskInfo info, const After& after);
  /// One communication operation; member i (rank op.ranks[i]) starts after after[i] (missing
  /// entries: no dependency). Returns the members in the order of op.ranks.
  std::vector<TaskId> collective(std::string_view name, CommOp op, StreamId stream, TaskInfo info,
                                 const std::vector<After>& after);
  /// `after` starts once `before` has ended.
  void precede(TaskId before, TaskId after);
  void succeed(TaskId after, TaskId before) { precede(before, after); }

 private:
  TaskGraph& graph_;
};

}  // namespace moesim::strategies
