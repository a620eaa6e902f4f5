// moesim simulate: runs a task graph file (or the built-in example) through the simulated
// executor and prints its summary; writes the Chrome trace and summary JSON on request.
#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "sim/app/cli_checks.hpp"
#include "sim/app/command.hpp"
#include "sim/compute/calibrated_compute_model.hpp"
#include "sim/compute/fixed_rate_compute_model.hpp"
#include "sim/core/errors.hpp"
#include "sim/exec/simulated_executor.hpp"
#include "sim/io/calibration_json.hpp"
#include "sim/io/chakra_trace.hpp"
#include "sim/io/chrome_trace.hpp"
#include "sim/io/output_file.hpp"
#include "sim/io/summary_json.hpp"
#include "sim/io/task_graph_json.hpp"
#include "sim/network/ideal_network_model.hpp"
#include "sim/report/iteration_summary.hpp"

namespace moesim::app {
namespace {

struct SimulateOptions {
  std::string graph_file;
  double link_gbps = 100.0;
  double latency_us = 5.0;
  double tflops = 400.0;
  double hbm_gbps = 2000.0;
  double overlap_slowdown = 1.0;
  std::string trace_file;
  std::string json_file;
  std::string export_file;
  std::string calibration_file;
  std::string chakra_dir;  ///< Chakra traces to import instead of GRAPH
};

void print_summary(const report::IterationSummary& s) {
  fmt::print("makespan           {:>12.3f} us\n", s.makespan.us());
  fmt::print("ranks / tasks      {:>12} / {}\n", s.ranks, s.tasks);
  fmt::print("mean compute       {:>12.3f} us\n", s.mean_compute().us());
  fmt::print("mean communication {:>12.3f} us\n", s.mean_comm().us());
  fmt::print("mean exposed comm  {:>12.3f} us\n", s.mean_exposed_comm().us());
  for (const auto& [group, g] : s.per_comm_group) {
    fmt::print("  {:<8} {:>4} ops {:>12.3f} us {:>14} bytes\n", group, g.operations, g.total.us(),
               g.bytes.count);
  }
}

void run_simulate(const SimulateOptions& o) {
  io::check_outputs(
      {{"--trace", o.trace_file}, {"--json", o.json_file}, {"--export", o.export_file}},
      {o.graph_file, o.calibration_file, o.chakra_dir});
  if (!o.chakra_dir.empty() && !o.graph_file.empty()) {
    throw input_error("", "--chakra", "give either GRAPH or --chakra", o.graph_file, "one input");
  }
  const TaskGraph graph = !o.chakra_dir.empty()  ? io::load_chakra_traces(o.chakra_dir)
                          : o.graph_file.empty() ? io::example_task_graph()
                                                 : io::load_task_graph(o.graph_file);
  compute::FixedRateParams compute_params;
  compute_params.flop_rate = FlopRate::from_tflops(o.tflops);
  compute_params.memory = Bandwidth::from_gbps(o.hbm_gbps);
  compute_params.overlap_slowdown = o.overlap_slowdown;
  const compute::FixedRateComputeModel roofline(compute_params);
  // With a calibration profile, measured/interpolated kernel times replace the roofline wherever
  // the profile covers a kernel's shape; the roofline stays the fallback.
  calibration::CalibrationProfile profile;
  if (!o.calibration_file.empty()) profile = io::load_profile(o.calibration_file);
  const compute::CalibratedComputeModel calibrated(profile, roofline);
  const compute::ComputeModel& compute =
      o.calibration_file.empty() ? static_cast<const compute::ComputeModel&>(roofline) : calibrated;
  network::IdealNetworkModel network(Bandwidth::from_gbps(o.link_gbps),
                                     SimTime::from_us(o.latency_us));
  SimulatedExecutor executor(compute, network);
  const ExecutionRecord record = executor.run(graph);
  const report::IterationSummary summary = report::summarize(graph, record);
  fmt::print("task graph: {}\n", !o.chakra_dir.empty()  ? "Chakra traces in " + o.chakra_dir
                                 : o.graph_file.empty() ? std::string("built-in example")
                                                        : o.graph_file);
  print_summary(summary);
  io::write_outputs(
      {{"--trace", o.trace_file, o.trace_file.empty() ? "" : io::chrome_trace(graph, record)},
       {"--json", o.json_file,
        o.json_file.empty() ? "" : io::summary_to_json(summary).dump(2) + "\n"},
       {"--export", o.export_file, o.export_file.empty() ? "" : io::task_graph_to_json(graph)}});
}

}  // namespace

void register_simulate_command(CLI::App& root) {
  auto options = std::make_shared<SimulateOptions>();
  CLI::App* cmd = root.add_subcommand(
      "simulate",
      "Run a task graph file through the simulated executor.\n"
      "Without GRAPH, runs a built-in 2-GPU example. Kernels cost max(flops/peak, bytes/HBM);\n"
      "communication uses an ideal network (private links, no contention). The schema of GRAPH\n"
      "is in docs/task-graph.md.\n"
      "Example: moesim simulate my_graph.json --link-gbps 50 --trace trace.json");
  cmd->add_option("GRAPH", options->graph_file, "Task graph JSON file")->check(existing_file());
  cmd->add_option("--link-gbps", options->link_gbps, "Ideal network link bandwidth, GB/s (1e9 B/s)")
      ->check(number_in(1e-3, 1e5))
      ->capture_default_str();
  cmd->add_option("--latency-us", options->latency_us, "Per-step latency, microseconds")
      ->check(number_in(0.0, 1e6))
      ->capture_default_str();
  cmd->add_option("--tflops", options->tflops, "Peak compute, TFLOP/s")
      ->check(number_in(1e-3, 1e5))
      ->capture_default_str();
  cmd->add_option("--hbm-gbps", options->hbm_gbps, "Memory bandwidth, GB/s")
      ->check(number_in(1e-3, 1e6))
      ->capture_default_str();
  cmd->add_option("--overlap-slowdown", options->overlap_slowdown,
                  "Kernel slowdown factor while communication runs on the same GPU")
      ->check(number_in(1.0, 10.0))
      ->capture_default_str();
  cmd->add_option("--calibration", options->calibration_file,
                  "Calibration profile from 'moesim calibrate': measured kernel times where it "
                  "covers a shape, the roofline elsewhere")
      ->check(existing_file());
  cmd->add_option("--chakra", options->chakra_dir,
                  "Read the graph from Chakra traces DIR/<prefix>.<rank>.et (e.g. from 'moesim "
                  "export --chakra'); kernels without moesim's shape attributes run for their "
                  "recorded duration");
  cmd->add_option("--trace", options->trace_file, "Write a Chrome/Perfetto trace JSON here");
  cmd->add_option("--json", options->json_file, "Write the summary JSON here ('-' = stdout)");
  cmd->add_option("--export", options->export_file, "Write the task graph itself as JSON here");
  cmd->callback([options]() { run_simulate(*options); });
}

}  // namespace moesim::app
