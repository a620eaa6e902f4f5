// Chakra execution traces (MLCommons Chakra, the format ASTRA-sim replays and PyTorch's
// execution-trace observer converts to): one file per rank, "<prefix>.<rank>.et", each a
// sequence of protobuf messages every one preceded by its length as a varint (Chakra's
// "length-delimited" encoding), GlobalMetadata first, then the rank's nodes. Schema:
// sim/io/chakra_et.proto (field numbers from Chakra's published et_def.proto).
//
// Export (one node per task of the rank, node id = TaskId, in stream order):
//  - kernels: COMP_NODE with duration_micros from the record, "num_ops" (flops) and
//    "tensor_size" (bytes) as Chakra names them, plus moesim's kernel, shape, dtype;
//  - collectives: COMM_COLL_NODE with "comm_type" (CollectiveCommType), "comm_size" (nccl-tests
//    size, see comm_op.hpp), "pg_name" and "pg_ranks" (the group's ranks); an all-to-all-v is an
//    ALL_TO_ALL with per-peer "send_split_bytes" / "recv_split_bytes" lists (Chakra has no
//    all-to-all-v; consumers that ignore unknown attributes see an all-to-all of comm_size);
//  - point-to-point: COMM_SEND_NODE on the sender ("comm_dst"), COMM_RECV_NODE on the receiver
//    ("comm_src"), both with "comm_tag" and "comm_size";
//  - delays: COMP_NODE with "moesim.delay".
//  ctrl_deps = the previous task on the same stream (stream order), data_deps = explicit
//  dependencies on the same rank; dependencies on other ranks (which Chakra cannot name) go into
//  "moesim.remote_deps" as (rank, node id) pairs. Every node carries "stream", "phase", "layer".
//
// Import rebuilds a TaskGraph: collectives are matched across ranks as NCCL does, the k-th
// collective on a process group of one rank with the k-th of every other member; sends with
// receives by (source, destination, tag, k-th). Nodes without moesim's kernel attributes (e.g.
// converted from PyTorch) become fixed delays of their duration_micros; without "pg_ranks" a
// process group is taken to span every rank of the trace; without "stream" kernels go on
// "compute" (host ops, "is_cpu_op", on "host") and communication on "comm".
#pragma once

#include <string>
#include <vector>

#include "sim/exec/execution_record.hpp"
#include "sim/workload/task_graph.hpp"

namespace moesim::io {

/// False when moesim was built without protobuf (the functions below then throw InputError).
bool chakra_supported();

/// The encoded trace of every rank, index = rank.
std::vector<std::string> chakra_rank_traces(const TaskGraph& graph, const ExecutionRecord& record);
/// Writes DIR/<prefix>.<rank>.et for every rank (DIR is created); returns the paths.
std::vector<std::string> write_chakra_traces(const TaskGraph& graph, const ExecutionRecord& record,
                                             const std::string& dir, const std::string& prefix);

/// Rebuilds a graph from encoded per-rank traces (`origins` name them in errors).
TaskGraph task_graph_from_chakra(const std::vector<std::string>& rank_traces,
                                 const std::vector<std::string>& origins);
/// Reads DIR/<prefix>.<rank>.et, ranks 0..n-1 of one prefix.
TaskGraph load_chakra_traces(const std::string& dir);

}  // namespace moesim::io
