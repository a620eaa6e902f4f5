// moesim routing export: writes the routing's expert-exchange byte matrices of one iteration, per
// MoE layer, direction and expert-parallel group, as the traffic-matrix files nccl-tests'
// alltoallv_perf reads (NCCL_TESTS_ALLTOALLV_MATRIX_FILE; format in sim/io/alltoallv_matrix.hpp),
// so the all-to-all-v a routing model implies can be measured with the same harness.
#include <fmt/format.h>

#include <filesystem>
#include <memory>

#include "sim/app/command.hpp"
#include "sim/app/job_flags.hpp"
#include "sim/core/errors.hpp"
#include "sim/io/alltoallv_matrix.hpp"
#include "sim/io/output_file.hpp"

namespace moesim::app {
namespace {

struct RoutingExportOptions {
  JobOptions job;
  std::string matrix_dir;
  std::int64_t iteration = 0;
};

void run_routing_export(const RoutingExportOptions& o) {
  namespace fs = std::filesystem;
  if (fs::exists(o.matrix_dir) && !fs::is_directory(o.matrix_dir)) {
    throw input_error("", "--alltoallv-matrix", "not a directory", o.matrix_dir,
                      "a directory (created if missing)");
  }
  const PreparedJob p = prepare_job(o.job);
  const TrainingJob training = p.job(o.iteration);
  if (training.layout.ep <= 1) {
    throw input_error("", "--parallel", "no expert parallelism, so no all-to-all to export",
                      fmt::format("ep={}", training.layout.ep), "ep >= 2");
  }
  const auto matrices = io::expert_exchange_matrices(training);
  fs::create_directories(o.matrix_dir);
  std::int64_t largest = 0;
  for (const auto& m : matrices) {
    io::write_file_atomically((fs::path(o.matrix_dir) / m.file_name()).string(),
                              io::alltoallv_matrix_text(m.matrix));
    largest = std::max(largest, all_to_all_v_size(m.matrix).count);
  }
  fmt::print(
      "wrote {} matrices ({} MoE layers x dispatch/combine x {} EP groups of {} ranks) to {}\n",
      matrices.size(), training.routing.shape().moe_layers,
      training.mapping.groups(GroupKind::ep).size(), training.layout.ep, o.matrix_dir);
  fmt::print("routing: {}, iteration {}\n", p.routing->describe(), o.iteration);
  fmt::print("largest per-rank send or receive: {} bytes\n", largest);
  fmt::print(
      "measure one with: NCCL_TESTS_ALLTOALLV_MATRIX_FILE={}/{} mpirun -np {} alltoallv_perf "
      "-b {} -e {} -a 3\n",
      o.matrix_dir, matrices.front().file_name(), training.layout.ep, largest, largest);
}

}  // namespace

void register_routing_command(CLI::App& root) {
  CLI::App* routing =
      root.add_subcommand("routing", "Token routing of a job, as files peers read.");
  routing->require_subcommand(1);
  auto options = std::make_shared<RoutingExportOptions>();
  CLI::App* cmd = routing->add_subcommand(
      "export",
      "Write one iteration's expert-exchange byte matrices as nccl-tests alltoallv_perf traffic\n"
      "matrix files: one file per MoE layer, direction (dispatch, combine) and EP group, named\n"
      "moe<L>.<dispatch|combine>.ep<G>.txt, one row per sending rank, bytes separated by spaces.\n"
      "Every routed token is sent (no capacity limit), hidden x dtype bytes each.\n"
      "Example: moesim routing export --model mixtral-8x7b --parallel tp=1,dp=8,ep=8 \\\n"
      "           --routing zipf:1.2 --alltoallv-matrix a2av/");
  add_job_options(*cmd, options->job, JobFlags{true, false});
  cmd->add_option("--alltoallv-matrix", options->matrix_dir,
                  "Directory for the matrix files (created if missing)")
      ->required();
  cmd->add_option("--iteration", options->iteration, "Which iteration's routing to export")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->callback([options]() { run_routing_export(*options); });
}

}  // namespace moesim::app
