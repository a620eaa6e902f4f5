// moesim export: writes one simulated iteration of a job in formats other tools read. Today:
// Chakra execution traces (--chakra DIR), one <prefix>.<rank>.et per rank, with the simulated
// kernel durations; ASTRA-sim and Chakra's tools read them, and `moesim simulate --chakra DIR`
// reads them back.
#include <fmt/format.h>

#include <filesystem>
#include <memory>

#include "sim/app/command.hpp"
#include "sim/app/job_flags.hpp"
#include "sim/core/errors.hpp"
#include "sim/io/chakra_trace.hpp"
#include "sim/strategies/registry.hpp"

namespace moesim::app {
namespace {

struct ExportOptions {
  JobOptions job;
  std::string strategy = "deepspeed-moe";
  std::string chakra_dir;
  std::string prefix = "moesim";
  std::int64_t iteration = 0;
};

void run_export(const ExportOptions& o) {
  if (!io::chakra_supported()) {
    throw input_error("", "--chakra", "this moesim was built without protobuf", {},
                      "a build with libprotobuf-dev and protobuf-compiler installed");
  }
  if (o.prefix.empty() || o.prefix.find('/') != std::string::npos) {
    throw input_error("", "--prefix", "not a file name prefix", o.prefix,
                      "a non-empty name without '/'");
  }
  // Fail before the simulation, not after it.
  if (std::filesystem::exists(o.chakra_dir) && !std::filesystem::is_directory(o.chakra_dir)) {
    throw input_error("", "--chakra", "not a directory", o.chakra_dir,
                      "a directory (created if missing)");
  }
  const auto strategy = strategies::make_strategy(o.strategy, "--strategy");
  const PreparedJob p = prepare_job(o.job);
  const TrainingJob training = p.job(o.iteration);
  const strategies::BuildResult built = build_graph(p, *strategy, training);
  const ExecutionRecord record = simulate_graph(p, built.graph);
  const auto paths = io::write_chakra_traces(built.graph, record, o.chakra_dir, o.prefix);
  fmt::print("strategy {}: {} tasks, {} comm ops, simulated iteration {:.3f} ms\n",
             strategy->name(), built.graph.task_count(), built.graph.comm_count(),
             record.makespan().ms());
  fmt::print("wrote {} Chakra traces: {} .. {}\n", paths.size(), paths.front(), paths.back());
}

}  // namespace

void register_export_command(CLI::App& root) {
  auto options = std::make_shared<ExportOptions>();
  CLI::App* cmd = root.add_subcommand(
      "export",
      "Write one simulated iteration of a job as Chakra execution traces, one\n"
      "<prefix>.<rank>.et per rank (length-delimited protobuf, GlobalMetadata first): kernels\n"
      "as COMP nodes with their simulated durations, collectives as COMM_COLL nodes (comm_type,\n"
      "comm_size, pg_name), point-to-point as send/recv, all-to-all-v with per-peer\n"
      "send_split_bytes / recv_split_bytes. Read back with 'moesim simulate --chakra DIR'.\n"
      "Example: moesim export --model mixtral-8x7b --parallel tp=1,ep=8 --strategy tutel \\\n"
      "           --chakra et/");
  add_job_options(*cmd, options->job, JobFlags{true, false});
  cmd->add_option("--strategy,-s", options->strategy, "Strategy that builds the iteration")
      ->capture_default_str();
  cmd->add_option("--chakra", options->chakra_dir,
                  "Directory for the Chakra traces (created if missing)")
      ->required();
  cmd->add_option("--prefix", options->prefix, "File name prefix of the traces")
      ->capture_default_str();
  cmd->add_option("--iteration", options->iteration, "Which iteration's routing to export")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->callback([options]() { run_export(*options); });
}

}  // namespace moesim::app
