// moesim validate: simulates a job and executes the same task graph on the GPUs present, then
// prints predicted vs measured time per task kind and per stream, the end-to-end iteration
// error and the exposed-communication error; writes both traces into one Perfetto file, the
// prediction as processes "predicted rank N" and the measurement as "measured rank N".
#include <fmt/format.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "kernels/runtime/graph_lowering.hpp"
#include "sim/app/cli_checks.hpp"
#include "sim/app/command.hpp"
#include "sim/app/hardware_job.hpp"
#include "sim/app/result_json.hpp"
#include "sim/compute/fixed_rate_compute_model.hpp"
#include "sim/compute/substituted_kernel_compute_model.hpp"
#include "sim/exec/simulated_executor.hpp"
#include "sim/io/chrome_trace.hpp"
#include "sim/io/output_file.hpp"
#include "sim/io/summary_json.hpp"
#include "sim/network/ideal_network_model.hpp"
#include "sim/report/html/html_report.hpp"
#include "sim/report/iteration_summary.hpp"
#include "sim/report/prediction_comparison.hpp"

namespace moesim::app {
namespace {

struct ValidateOptions {
  HardwareJobOptions job;
  double link_gbps = 100.0;
  double latency_us = 5.0;
  double tflops = 400.0;
  double hbm_gbps = 2000.0;
  std::string trace_file;
  std::string json_file;
  std::string html_file;
};

struct Models {
  std::unique_ptr<compute::ComputeModel> compute;
  std::unique_ptr<network::CommunicationModel> network;
};

/// The simulator's models for the prediction. The topology-aware network models and the
/// calibrated compute model plug in here (with their flags in register_validate_command).
Models make_models(const ValidateOptions& o) {
  compute::FixedRateParams params;
  params.flop_rate = FlopRate::from_tflops(o.tflops);
  params.memory = Bandwidth::from_gbps(o.hbm_gbps);
  Models m;
  m.compute = std::make_unique<compute::FixedRateComputeModel>(params);
  m.network = std::make_unique<network::IdealNetworkModel>(Bandwidth::from_gbps(o.link_gbps),
                                                           SimTime::from_us(o.latency_us));
  return m;
}

std::string error_text(const report::ComparisonRow& row) {
  const auto e = row.error();
  return e ? fmt::format("{:+.1f}%", *e * 100.0) : std::string("n/a");
}

void print_rows(std::string_view title, const std::vector<report::ComparisonRow>& rows) {
  fmt::print("{:<16} {:>6} {:>14} {:>14} {:>9}\n", title, "tasks", "predicted_us", "measured_us",
             "error");
  for (const report::ComparisonRow& r : rows) {
    fmt::print("{:<16} {:>6} {:>14.3f} {:>14.3f} {:>9}\n", r.key, r.tasks, r.predicted.us(),
               r.measured.us(), error_text(r));
  }
}

nlohmann::ordered_json row_json(const report::ComparisonRow& r) {
  nlohmann::ordered_json j;
  j["key"] = r.key;
  j["tasks"] = r.tasks;
  j["predicted_us"] = r.predicted.us();
  j["measured_us"] = r.measured.us();
  const auto e = r.error();
  j["error"] = e ? nlohmann::ordered_json(*e) : nlohmann::ordered_json(nullptr);
  if (r.key.ends_with(kSubstitutedMark)) j["substituted"] = true;
  return j;
}

std::string merged_trace(const TaskGraph& graph, const ExecutionRecord& predicted,
                         const ExecutionRecord& measured) {
  io::ChromeTraceOptions p{"predicted ", 0};
  io::ChromeTraceOptions m{"measured ", graph.rank_count()};
  nlohmann::json other;
  other["predicted"] = predicted.description;
  other["measured"] = measured.description;
  return fmt::format(
      "{{\"displayTimeUnit\":\"ns\",\"otherData\":{},\"traceEvents\":[\n{},\n{}\n]}}\n",
      other.dump(), io::chrome_trace_events(graph, predicted, p),
      io::chrome_trace_events(graph, measured, m));
}

void run_validate(const ValidateOptions& o) {
  io::check_outputs({{"--trace", o.trace_file}, {"--json", o.json_file}, {"--html", o.html_file}},
                    hardware_input_paths(o.job));
  const HardwareJob job = build_hardware_job(o.job);
  const TaskGraph& graph = job.graph;
  // A graph the GPUs cannot run fails before simulating.
  const runtime::ExecutionPlan plan = plan_job(o.job, graph);
  // The prediction prices the kernels the executor launches (attention unfused, over every key
  // of a causal task's sequence: runtime::device_kernel_work), so both sides time the same work.
  ExecutionRecord predicted;
  if (job.prepared) {
    // A job: predict with its own models (topology network, roofline or calibrated compute).
    const compute::SubstitutedKernelComputeModel as_run(*job.prepared->compute,
                                                        runtime::device_kernel_work);
    predicted = simulate_graph(*job.prepared, graph, &as_run);
  } else {
    Models models = make_models(o);
    const compute::SubstitutedKernelComputeModel as_run(*models.compute,
                                                        runtime::device_kernel_work);
    SimulatedExecutor simulator(as_run, *models.network);
    predicted = simulator.run(graph);
  }
  const std::unique_ptr<runtime::HardwareRunner> runner = acquire_hardware_runner();
  const ExecutionRecord measured = runner->run(graph, run_options(o.job));
  if (!runner->writes_output()) return;
  report::PredictionComparison c = report::compare_predictions(graph, predicted, measured);
  split_substituted(graph, plan, predicted, measured, c.per_kind);
  fmt::print("predicted: {}\nmeasured:  {}\n\n", predicted.description, measured.description);
  print_rows("kind", c.per_kind);
  if (plan.substituted_tasks > 0) {
    fmt::print(
        "{} substituted: {} tasks without a real kernel; a stand-in of their size ran "
        "(moesim execute --plan says why for each)\n",
        kSubstitutedMark, plan.substituted_tasks);
  }
  fmt::print("\n");
  print_rows("stream", c.per_stream);
  fmt::print("\n");
  print_rows("end to end", {c.iteration, c.exposed_comm});
  std::string json;
  std::string html;
  if (!o.json_file.empty() || !o.html_file.empty()) {
    nlohmann::ordered_json j;
    const report::IterationSummary p = report::summarize(graph, predicted);
    const report::IterationSummary m = report::summarize(graph, measured);
    j["predicted"] = {{"description", predicted.description},
                      {"time_breakdown", time_breakdown_json(p)},
                      {"summary", io::summary_to_json(p)}};
    j["measured"] = {{"description", measured.description},
                     {"time_breakdown", time_breakdown_json(m)},
                     {"summary", io::summary_to_json(m)}};
    auto& kinds = j["per_kind"] = nlohmann::ordered_json::array();
    for (const auto& r : c.per_kind) kinds.push_back(row_json(r));
    auto& streams = j["per_stream"] = nlohmann::ordered_json::array();
    for (const auto& r : c.per_stream) streams.push_back(row_json(r));
    j["iteration"] = row_json(c.iteration);
    j["exposed_comm"] = row_json(c.exposed_comm);
    if (!o.json_file.empty()) json = j.dump(2) + "\n";
    if (!o.html_file.empty()) {
      html = report::html::render_html_report(report::html::ReportKind::validate, j,
                                              "moesim validate: predicted vs measured", "--html");
    }
  }
  io::write_outputs({{"--trace", o.trace_file,
                      o.trace_file.empty() ? "" : merged_trace(graph, predicted, measured)},
                     {"--json", o.json_file, json},
                     {"--html", o.html_file, html}});
}

}  // namespace

void register_validate_command(CLI::App& root) {
  auto options = std::make_shared<ValidateOptions>();
  CLI::App* cmd = root.add_subcommand(
      "validate",
      "Simulate a job and execute the same task graph on this machine's GPUs, side by side.\n"
      "Prints predicted vs measured time per task kind and per stream (summed over ranks),\n"
      "the end-to-end iteration error and the exposed-communication error; error =\n"
      "(predicted - measured) / measured. Tasks the GPU ran by a stand-in (no real kernel for\n"
      "their ComputeOp, see `moesim execute --plan`) get their own row, '<kind>*'.\n"
      "--trace writes both runs into one Perfetto file:\n"
      "processes 'predicted rank N' and 'measured rank N'. With job flags (--model ...\n"
      "--strategy S) the prediction uses the job's models: the topology's network model and the\n"
      "roofline, or --calibration's measured kernel times. With --graph FILE it uses the plain\n"
      "roofline (--tflops, --hbm-gbps) and ideal network of `moesim simulate`. Without a GPU it\n"
      "exits 2. Examples:\n"
      "  moesim validate --model gpt2-s-moe --topology dgx-h100 --parallel ep=1 --set layers=2 \\\n"
      "      --strategy tutel --calibration profile.json --trace side_by_side.json\n"
      "  moesim validate --graph graph.json --tflops 700 --hbm-gbps 3000 --json comparison.json");
  add_hardware_job_options(cmd, options->job);
  cmd->add_option("--link-gbps", options->link_gbps, "Ideal network link bandwidth, GB/s")
      ->check(number_in(1e-3, 1e5))
      ->capture_default_str();
  cmd->add_option("--latency-us", options->latency_us, "Per-step latency, microseconds")
      ->check(number_in(0.0, 1e6))
      ->capture_default_str();
  cmd->add_option("--tflops", options->tflops, "Peak compute of the model, TFLOP/s")
      ->check(number_in(1e-3, 1e5))
      ->capture_default_str();
  cmd->add_option("--hbm-gbps", options->hbm_gbps, "Memory bandwidth of the model, GB/s")
      ->check(number_in(1e-3, 1e6))
      ->capture_default_str();
  cmd->add_option("--trace", options->trace_file, "Write predicted + measured Perfetto trace");
  cmd->add_option("--json", options->json_file, "Write the comparison JSON here");
  cmd->add_option("--html", options->html_file,
                  "Write a self-contained HTML report: predicted vs measured per kind, per stream "
                  "and end to end (or later: moesim report validate JSON -o FILE)");
  cmd->callback([options]() { run_validate(*options); });
}

}  // namespace moesim::app
