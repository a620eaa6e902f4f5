// moesim compare: one job, several strategies, one table: iteration time, speedup over the first
// strategy, exposed communication, MFU and each planner's decisions. Writes JSON and CSV.
#include <fmt/format.h>

#include "sim/app/command.hpp"
#include "sim/app/job_runner.hpp"
#include "sim/app/result_json.hpp"
#include "sim/io/csv.hpp"
#include "sim/io/output_file.hpp"
#include "sim/strategies/registry.hpp"

namespace moesim::app {
namespace {

struct CompareOptions {
  JobOptions job;
  std::string strategies = "all";
  std::string json_file;
  std::string csv_file;
};

void compare(const CompareOptions& o) {
  io::check_output_path(o.json_file, "--json");
  io::check_output_path(o.csv_file, "--csv");
  const auto chosen = parse_strategies(o.strategies, "--strategies");
  const PreparedJob p = prepare_job(o.job);
  print_job(p);
  std::vector<StrategyResult> results;
  for (const auto& s : chosen) {
    fmt::print(stderr, "simulating {} ...\n", s->name());
    results.push_back(simulate_strategy(p, *s));
  }
  const double base = results.front().mean_iteration_us();
  fmt::print("\n{:<16} {:>13} {:>8} {:>13} {:>13} {:>7}\n", "strategy", "iteration ms", "speedup",
             "exposed ms", "tokens/s", "MFU %");
  for (const StrategyResult& r : results) {
    fmt::print("{:<16} {:>13.3f} {:>7.2f}x {:>13.3f} {:>13.0f} {:>7.1f}\n", r.name,
               r.mean_iteration_us() / 1e3, base / r.mean_iteration_us(), r.exposed_comm_us() / 1e3,
               r.tokens_per_s(p.tokens_per_iteration), 100.0 * r.mfu(p));
  }
  fmt::print("\nplanner decisions (speedup is over {})\n", results.front().name);
  for (const StrategyResult& r : results) {
    // Console: the choices only; the planners' cost estimates behind them go to --json/--csv.
    std::string shown;
    for (const auto& [k, v] : r.last.decisions) {
      if (k.find(".estimate") != std::string::npos) continue;
      shown += fmt::format("{}{}={}", shown.empty() ? "" : "; ", k, v);
    }
    fmt::print("  {:<16} {}\n", r.name, shown.empty() ? "-" : shown);
  }
  if (p.iterations > 1) {
    fmt::print("\niteration times (ms)\n");
    for (const StrategyResult& r : results) {
      std::string list;
      for (double t : r.iteration_us) list += fmt::format(" {:9.3f}", t / 1e3);
      fmt::print("  {:<16}{}\n", r.name, list);
    }
  }
  if (!o.json_file.empty()) {
    nlohmann::ordered_json j;
    j["job"] = job_json(p);
    j["baseline"] = results.front().name;
    auto& arr = j["strategies"] = nlohmann::ordered_json::array();
    for (const StrategyResult& r : results) {
      auto s = strategy_result_json(p, r);
      s["speedup"] = base / r.mean_iteration_us();
      arr.push_back(std::move(s));
    }
    io::write_file_atomically(o.json_file, j.dump(2) + "\n");
  }
  if (!o.csv_file.empty()) {
    io::CsvTable csv({"strategy", "mean_iteration_us", "speedup", "exposed_comm_us", "tokens_per_s",
                      "mfu", "decisions"});
    for (const StrategyResult& r : results) {
      csv.add_row({r.name, fmt::format("{:.3f}", r.mean_iteration_us()),
                   fmt::format("{:.4f}", base / r.mean_iteration_us()),
                   fmt::format("{:.3f}", r.exposed_comm_us()),
                   fmt::format("{:.0f}", r.tokens_per_s(p.tokens_per_iteration)),
                   fmt::format("{:.4f}", r.mfu(p)), r.decisions_text()});
    }
    io::write_file_atomically(o.csv_file, csv.to_string());
  }
}

}  // namespace

void register_compare_command(CLI::App& root) {
  auto o = std::make_shared<CompareOptions>();
  std::string names;
  for (auto n : strategies::strategy_names()) names += (names.empty() ? "" : ", ") + std::string(n);
  CLI::App* cmd = root.add_subcommand(
      "compare", "Simulate one job with several strategies and compare them side by side");
  cmd->footer(
      "Every strategy builds its own task graph for the same model, layout, routing, topology\n"
      "and cost models; the table shows iteration time, speedup over the FIRST strategy listed,\n"
      "exposed (non-overlapped) communication, tokens/s, MFU, and what each planner decided\n"
      "(Parm schedule, Tutel degree, FSMoE degrees, Lancet partitions, FlexMoE replicas).\n"
      "Example:\n"
      "  moesim compare --model mixtral-8x7b --topology dgx-h100 --nodes 4 \\\n"
      "      --parallel tp=4,ep=8 --strategies deepspeed-moe,tutel,fastermoe --csv cmp.csv");
  add_job_options(*cmd, o->job);
  cmd->add_option("--strategies,-s", o->strategies, "Comma list or 'all' (default): " + names)
      ->capture_default_str();
  cmd->add_option("--json", o->json_file, "Write the comparison as JSON ('-' = stdout)");
  cmd->add_option("--csv", o->csv_file, "Write the comparison as CSV ('-' = stdout)");
  cmd->callback([o]() { compare(*o); });
}

}  // namespace moesim::app
