#include "sim/strategies/graph_builder.hpp"

namespace moesim::strategies {

void GraphBuilder::precede(TaskId before, TaskId after) {
  const Task& a = graph_.task(before);
  const Task& b = graph_.task(after);
  // Stream order already covers a dependency on an earlier task of the same stream.
  if (a.stream != b.stream || a.rank != b.rank) graph_.depend(before, after);
}

TaskId GraphBuilder::kernel(RankId rank, std::string_view name, const ComputeTask& task,
                            StreamId stream, TaskInfo info, const After& after) {
  const TaskId id = graph_.add_compute(name, rank, stream, task, info);
  for (TaskId d : after) precede(d, id);
  return id;
}

std::vector<TaskId> GraphBuilder::collective(std::string_view name, CommOp op, StreamId stream,
                                             TaskInfo info, const std::vector<After>& after) {
  const std::vector<RankId> ranks = op.ranks;
  const CommId comm = graph_.add_comm(name, std::move(op));
  std::vector<TaskId> members;
  members.reserve(ranks.size());
  for (std::size_t i = 0; i < ranks.size(); ++i) {
    const TaskId m = graph_.add_comm_member(comm, ranks[i], stream, info);
    if (i < after.size()) {
      for (TaskId d : after[i]) precede(d, m);
    }
    members.push_back(m);
  }
  return members;
}

}  // namespace moesim::strategies
