// Chrome trace / Perfetto JSON ("Trace Event Format", complete events "ph":"X").
// pid = rank ("rank N"), tid = stream; each event carries the task's kind, sizes and phase in
// args. Timestamps are microseconds with picosecond precision kept in the decimals, so a trace is
// byte-identical across runs of the same job.
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
