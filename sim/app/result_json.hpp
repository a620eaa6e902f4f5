// JSON and console forms of a simulated job and its strategy results, shared by run and compare.
#pragma once

#include <nlohmann/json.hpp>

#include "sim/app/job_flags.hpp"
#include "sim/report/iteration_summary.hpp"

namespace moesim::app {

/// Prints the job header (model, cluster, layout, routing).
void print_job(const PreparedJob& job);

/// One strategy's result: iteration times, tokens/s, MFU, decisions, exposed communication per
/// group, and the last iteration's summary.
nlohmann::ordered_json strategy_result_json(const PreparedJob& job, const StrategyResult& r);

/// Where the time goes, mean over ranks (report/time_breakdown.hpp): compute_only_us,
/// overlapped_comm_us, exposed_comm_us, idle_us; they add up to the makespan.
nlohmann::ordered_json time_breakdown_json(const report::IterationSummary& summary);

/// The tasks of rank 0 and of the rank that finishes last, stream by stream
/// (report/stream_timeline.hpp): {ranks, rows: [{rank, stream}], categories, names,
/// spans: [[row, start_us, end_us, category, name]]}, times rounded to the nanosecond.
nlohmann::ordered_json timeline_json(const TaskGraph& graph, const ExecutionRecord& record,
                                     const report::IterationSummary& summary);

/// The job description (model, topology, layout, routing) as JSON.
nlohmann::ordered_json job_json(const PreparedJob& job);

}  // namespace moesim::app
