// Task graph files: a user-written or exported TaskGraph in JSON. Schema (docs/task-graph.md):
//
// {
//   "ranks": 2,                                   // optional; inferred from the tasks if absent
//   "tasks": [
//     {"name": "qkv", "rank": 0, "stream": "compute", "kernel": "gemm",
//      "m": 4096, "n": 12288, "k": 4096, "dtype": "bf16"},        // flops/bytes derived if absent
//     {"name": "a2a", "comm": "all_to_all", "ranks": [0, 1], "bytes": 1048576,
//      "stream": "comm", "group": "ep", "after": ["qkv"]},
//     {"name": "wait", "rank": 1, "stream": "compute", "delay_us": 5}
//   ]
// }
//
// A task is a kernel ("kernel"), a communication ("comm", expanded into one member task per rank
// of "ranks"), or a delay ("delay_us"). "after" lists earlier tasks: a name means that entry's
// task on the same rank if it has one there, otherwise all of its tasks; {"task": name,
// "rank": r} means exactly its task on rank r. A communication may instead give "member_after",
// one such list per member. Every dependency points to an earlier entry, so a file can never
// describe a cycle.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "sim/workload/task_graph.hpp"

namespace moesim::io {

TaskGraph load_task_graph(const std::string& path);
TaskGraph parse_task_graph(const nlohmann::json& document, const std::string& origin);

/// The built-in example: 2 ranks, 3 streams, a small MoE-like forward step.
TaskGraph example_task_graph();

/// Serialises a TaskGraph into the schema above (round-trips through parse_task_graph).
std::string task_graph_to_json(const TaskGraph& graph);

}  // namespace moesim::io
