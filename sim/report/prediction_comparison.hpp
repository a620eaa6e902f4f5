// PredictionComparison: a simulated (predicted) and a measured ExecutionRecord of the same
// TaskGraph, side by side. Built for `moesim validate`; works on any two records of one graph.
//
// Rows (times summed over every task of every rank, so a row's error is also the error of its
// per-task mean):
//  - per kind: kernel kinds ("gemm", "attention", ...), communication kinds ("all_to_all", ...)
//    counting each member task, and "delay";
//  - per stream name ("compute", "comm", ...): summed task durations;
//  - iteration: the makespan (end of the last task);
//  - exposed communication: the mean over ranks of IterationSummary's exposed comm.
// Error = (predicted - measured) / measured: +0.10 means the simulator predicts 10% too long.
// It is absent when the measured time is zero.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sim/core/sim_time.hpp"
#include "sim/exec/execution_record.hpp"
#include "sim/workload/task_graph.hpp"

namespace moesim::report {

struct ComparisonRow {
  std::string key;
  std::int64_t tasks = 0;
  SimTime predicted;
  SimTime measured;
  std::optional<double> error() const;
};

struct PredictionComparison {
  std::vector<ComparisonRow> per_kind;    ///< sorted by key
  std::vector<ComparisonRow> per_stream;  ///< sorted by key
  ComparisonRow iteration;                ///< key "iteration"
  ComparisonRow exposed_comm;             ///< key "exposed_comm"
};

/// (predicted - measured) / measured, or nullopt when measured is zero.
std::optional<double> relative_error(SimTime predicted, SimTime measured);

/// Both records must hold one entry per task of `graph` (a bug otherwise).
PredictionComparison compare_predictions(const TaskGraph& graph, const ExecutionRecord& predicted,
                                         const ExecutionRecord& measured);

}  // namespace moesim::report
