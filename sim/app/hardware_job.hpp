// What `moesim execute` and `moesim validate` run, and the GPU they run it on.
//
// HardwareJobOptions + build_job_graph() are the one place that turns flags into the TaskGraph
// both commands use: today `--graph FILE`; the job flags of `moesim run` (model, layout,
// strategy, routing) plug in here by adding their fields, registering them in
// add_job_options() and building the strategy's graph in build_job_graph().
//
// acquire_hardware_runner() never includes a CUDA header: in a CUDA build (MOESIM_HAS_CUDA) it
// calls kernels/runtime's make_hardware_runner(); otherwise it reports that moesim was built
// without CUDA. Either failure is an InputError (exit 2) naming the reason.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "kernels/runtime/execution_plan.hpp"
#include "kernels/runtime/hardware_runner.hpp"
#include "sim/workload/task_graph.hpp"

namespace moesim::app {

struct HardwareJobOptions {
  std::string graph_file;
  int iterations = 10;
  int warmup = 3;
  double launch_headroom_us = 200.0;
};

/// Registers --graph, --iterations, --warmup and --launch-headroom-us on `cmd`.
void add_job_options(CLI::App* cmd, HardwareJobOptions& options);

/// The validated TaskGraph of the job. Throws InputError for a bad file or missing job.
TaskGraph build_job_graph(const HardwareJobOptions& options);

/// lower_graph() of the job's graph; a task no kernel can run is an InputError naming the file.
runtime::ExecutionPlan plan_job(const HardwareJobOptions& options, const TaskGraph& graph);

runtime::HardwareRunOptions run_options(const HardwareJobOptions& options);

/// A runner for the GPUs of this machine, or InputError "no usable CUDA device (<reason>)" /
/// "this moesim was built without CUDA ...".
std::unique_ptr<runtime::HardwareRunner> acquire_hardware_runner();

}  // namespace moesim::app
