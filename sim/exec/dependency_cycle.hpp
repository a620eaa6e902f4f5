// Finds a cycle in a TaskGraph's ordering constraints: explicit dependencies, stream order, and
// the rendezvous of communication members (all members of one operation start together, so they
// act as one node). A cycle means the graph can never finish, like two ranks that issue the same
// two NCCL collectives in opposite orders.
#pragma once

#include <optional>
#include <vector>

#include "sim/core/ids.hpp"
#include "sim/workload/task_graph.hpp"

namespace moesim {

/// Tasks on a cycle, in order, or nullopt if the graph is acyclic. O(tasks + edges).
std::optional<std::vector<TaskId>> find_dependency_cycle(const TaskGraph& graph);

}  // namespace moesim
