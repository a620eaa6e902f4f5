// Chrome trace / Perfetto JSON ("Trace Event Format", complete events "ph":"X").
// pid = rank ("rank N"), tid = stream; each event carries the task's kind, sizes and phase in
// args. Timestamps are microseconds with picosecond precision kept in the decimals, so a trace is
// byte-identical across runs of the same job.
//
// Dependencies between different streams or ranks (TaskGraph::depend, the CUDA events) are drawn
// as flow arrows: a flow start "ph":"s" on the waited-for task's slice and a flow end "ph":"f"
// with "bp":"e" on the waiting task's slice, each with the pid, tid and ts of its slice, as the
// Trace Event Format's binding rules require (an "f" without "bp":"e" would bind to the next
// slice instead). Dependencies within one stream are implicit in its order and not drawn.
//
// For trace-analysis tools that read PyTorch Kineto traces (e.g. Holistic Trace Analysis), slices
// also carry Kineto's "args.stream" and "args.device" keys, and the document a top-level
// "distributedInfo" with "rank" and "world_size". One file holds every rank, so "rank" is the
// first rank in it; per-rank tools see the others as extra processes.
#pragma once

#include <string>

#include "sim/exec/execution_record.hpp"
#include "sim/workload/task_graph.hpp"

namespace moesim::io {

struct ChromeTraceOptions {
  /// Prefix for process names, e.g. "sim " or "measured " when two traces are merged.
  std::string process_prefix;
  /// Offset added to pids, so two records can share one file side by side.
  std::uint32_t pid_offset = 0;
};

/// The "traceEvents" entries for one record, without the enclosing document.
std::string chrome_trace_events(const TaskGraph& graph, const ExecutionRecord& record,
                                const ChromeTraceOptions& options = {});
/// A complete trace document for one record.
std::string chrome_trace(const TaskGraph& graph, const ExecutionRecord& record);

}  // namespace moesim::io
