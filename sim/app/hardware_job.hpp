// What `moesim execute` and `moesim validate` run, and the GPU they run it on.
//
// HardwareJobOptions + build_hardware_job() are the one place that turns flags into the TaskGraph
// both commands use: `--graph FILE`, or the job flags of `moesim run` (model, layout, strategy,
// routing; sim/job/job_runner.hpp), whose strategy builds the graph exactly as the simulator's.
//
// acquire_hardware_runner() never includes a CUDA header: it opens the hardware executor library
// beside the binary (sim/app/hardware_library.hpp). An absent library, one that cannot load,
// or no usable GPU is an InputError (exit 2) naming the reason.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/runtime/execution_plan.hpp"
#include "kernels/runtime/hardware_runner.hpp"
#include "sim/app/job_flags.hpp"
#include "sim/report/prediction_comparison.hpp"
#include "sim/workload/task_graph.hpp"

namespace moesim::app {

struct HardwareJobOptions {
  std::string graph_file;
  JobOptions job;  ///< used when --model is given instead of --graph
  std::string strategy = "deepspeed-moe";
  int iterations = 10;
  int warmup = 3;
  double launch_headroom_us = 200.0;
};

/// Registers --graph, the job flags (--model ... --strategy), --iterations, --warmup and
/// --launch-headroom-us on `cmd`.
void add_hardware_job_options(CLI::App* cmd, HardwareJobOptions& options);

struct HardwareJob {
  TaskGraph graph;
  /// The resolved job when given by job flags (its models make the prediction); null for --graph.
  std::unique_ptr<PreparedJob> prepared;
};

/// The validated TaskGraph of the job (iteration 0 of the strategy, or the file). Throws
/// InputError for a bad file, a bad job, both or neither given.
HardwareJob build_hardware_job(const HardwareJobOptions& options);

/// lower_graph() of the job's graph; a task no kernel can run is an InputError naming the file.
runtime::ExecutionPlan plan_job(const HardwareJobOptions& options, const TaskGraph& graph);

runtime::HardwareRunOptions run_options(const HardwareJobOptions& options);

/// A runner for the GPUs of this machine, or InputError "no usable CUDA device (<reason>)" /
/// "the hardware executor is not installed: ..." / "... cannot be loaded: ...".
std::unique_ptr<runtime::HardwareRunner> acquire_hardware_runner();

/// Suffix of a kind's row of substituted tasks in validate's table and JSON ("gemm*").
inline constexpr std::string_view kSubstitutedMark = "*";

/// Moves the tasks `plan` runs by a stand-in (DeviceCall::substituted) out of their kind's row
/// of `per_kind` into a row of their own, "<kind>*", so that no kind's error mixes real and
/// stand-in kernels. Rows left empty are dropped; rows stay sorted by key.
void split_substituted(const TaskGraph& graph, const runtime::ExecutionPlan& plan,
                       const ExecutionRecord& predicted, const ExecutionRecord& measured,
                       std::vector<report::ComparisonRow>& per_kind);

}  // namespace moesim::app
