// moesim execute: runs a job's task graph on the GPUs of this machine (kernels/runtime's hardware
// executor) and writes the measured trace and summary, in the formats `moesim simulate` writes.
// --plan prints how the graph is lowered onto streams, events and NCCL communicators and needs
// no GPU.
#include <fmt/format.h>

#include <memory>

#include "kernels/runtime/graph_lowering.hpp"
#include "sim/app/cli_checks.hpp"
#include "sim/app/command.hpp"
#include "sim/app/hardware_job.hpp"
#include "sim/io/chrome_trace.hpp"
#include "sim/io/output_file.hpp"
#include "sim/io/summary_json.hpp"
#include "sim/report/iteration_summary.hpp"

namespace moesim::app {
namespace {

struct ExecuteOptions {
  HardwareJobOptions job;
  bool plan_only = false;
  std::string trace_file;
  std::string json_file;
};

void run_execute(const ExecuteOptions& o) {
  io::check_outputs({{"--trace", o.trace_file}, {"--json", o.json_file}},
                    hardware_input_paths(o.job));
  const HardwareJob job = build_hardware_job(o.job);
  const TaskGraph& graph = job.graph;
  const runtime::ExecutionPlan plan = plan_job(o.job, graph);
  if (o.plan_only) {
    fmt::print("{}", runtime::plan_to_text(graph, plan));
    return;
  }
  const std::unique_ptr<runtime::HardwareRunner> runner = acquire_hardware_runner();
  const ExecutionRecord record = runner->run(graph, run_options(o.job));
  if (!runner->writes_output()) return;
  const report::IterationSummary s = report::summarize(graph, record);
  fmt::print("{}\n", record.description);
  fmt::print("iteration (median) {:>12.3f} us\n", s.makespan.us());
  fmt::print("ranks / tasks      {:>12} / {}\n", s.ranks, s.tasks);
  if (plan.substituted_tasks > 0) {
    fmt::print("substituted tasks  {:>12} (no real kernel for their op; --plan says why)\n",
               plan.substituted_tasks);
  }
  fmt::print("mean compute       {:>12.3f} us\n", s.mean_compute().us());
  fmt::print("mean communication {:>12.3f} us\n", s.mean_comm().us());
  fmt::print("mean exposed comm  {:>12.3f} us\n", s.mean_exposed_comm().us());
  for (const auto& [kind, t] : s.per_kernel_kind) {
    fmt::print("  {:<12} {:>12.3f} us\n", kind, t.us());
  }
  nlohmann::ordered_json j = io::summary_to_json(s);
  j["source"] = record.source;
  j["description"] = record.description;
  io::write_outputs(
      {{"--trace", o.trace_file, o.trace_file.empty() ? "" : io::chrome_trace(graph, record)},
       {"--json", o.json_file, j.dump(2) + "\n"}});
}

}  // namespace

void register_execute_command(CLI::App& root) {
  auto options = std::make_shared<ExecuteOptions>();
  CLI::App* cmd = root.add_subcommand(
      "execute",
      "Run a task graph on the GPUs of this machine and measure it.\n"
      "Every rank is one GPU (ranks beyond this process's GPUs live in further MPI processes:\n"
      "mpirun -np P moesim execute ...). Each kernel task runs the real CUDA kernel its op names\n"
      "(GEMM role, direction, activation, routing counts, parameters; docs/task-graph.md) with\n"
      "the task's shapes on random inputs; a task whose op is unset or inconsistent runs a\n"
      "stand-in of its size and is marked SUBSTITUTED. Communication runs NCCL on one\n"
      "communicator per rank set; cross-stream and cross-rank dependencies become CUDA events.\n"
      "After --warmup iterations, each task's start and end are the median over --iterations\n"
      "timed ones, relative to its rank's iteration start. The GPU side is libmoesim_hardware.so\n"
      "beside the moesim binary (or $MOESIM_HARDWARE_LIBRARY); without it, or without a usable\n"
      "GPU, it exits 2.\n"
      "--plan prints the lowering (streams, events, communicators, NCCL calls) without a GPU.\n"
      "The graph is a task graph file (--graph) or a job's iteration 0 built by --strategy from\n"
      "the same job flags as `moesim run`. Examples:\n"
      "  moesim execute --graph graph.json --iterations 20 --trace measured.json\n"
      "  moesim execute --model gpt2-s-moe --topology dgx-h100 --parallel ep=1 --set layers=2 \\\n"
      "      --strategy tutel --plan");
  add_hardware_job_options(cmd, options->job);
  cmd->add_flag("--plan", options->plan_only, "Print the execution plan and exit (no GPU needed)");
  cmd->add_option("--trace", options->trace_file, "Write the measured Chrome/Perfetto trace here");
  cmd->add_option("--json", options->json_file, "Write the measured summary JSON here");
  cmd->callback([options]() { run_execute(*options); });
}

}  // namespace moesim::app
