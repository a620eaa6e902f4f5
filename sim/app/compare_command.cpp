// moesim compare: one job, several strategies, one table: iteration time, speedup over the first
// strategy, exposed communication, MFU and each planner's decisions. Writes JSON and CSV.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "sim/app/cli_checks.hpp"
#include "sim/app/command.hpp"
#include "sim/app/job_flags.hpp"
#include "sim/app/result_json.hpp"
#include "sim/core/errors.hpp"
#include "sim/io/csv.hpp"
#include "sim/io/output_file.hpp"
#include "sim/job/progress.hpp"
#include "sim/report/html/html_report.hpp"
#include "sim/strategies/registry.hpp"

namespace moesim::app {
namespace {

struct CompareOptions {
  JobOptions job;
  std::string strategies = "all";
  std::string json_file;
  std::string csv_file;
  std::string html_file;
};

// The built-in default job (`moesim compare` with no job flags): what the seed systems optimise.
// GPT2-XL-MoE (FSMoE's real model; 32 heads so tp = 8 divides them), 8 layers, B = 4, 8 experts,
// top-2, capacity factor 2.0 under mildly skewed routing (zipf:0.5) so that little is dropped, on 4
// DGX-H100 nodes in MP+EP+ESP: tp = esp = 8 inside each node, EP across the 4 nodes (one GPU per
// node in each EP group), as FSMoE, Parm and DeepSpeed-TED lay it out. Every mechanism is at work:
// Parm's paused MP and unified collective, FSMoE's three-stream pipeline and degrees, TED's
// duplicate token dropping, Tutel's chunking and 2DH, the baselines' MP-duplicated tokens.
JobOptions default_job() {
  JobOptions j;
  j.model = "gpt2-xl-moe";
  j.overrides = "layers=8,heads=32,kv_heads=32,experts=8,top_k=2,capacity_factor=2.0,micro_batch=4";
  j.topology = "dgx-h100";
  j.nodes = 4;
  j.parallel = "tp=8,esp=8,ep=4";
  j.routing = "zipf:0.5";
  j.iterations = 2;
  return j;
}

// One line of a planner's main choices: the common "moe.*" facts, cost fits and per-layer
// details stay in --json/--csv.
std::string headline_decisions(const StrategyResult& r) {
  std::string shown;
  for (const auto& [k, v] : r.last.decisions) {
    if (k.rfind("moe.", 0) == 0 || k.find("estimate") != std::string::npos ||
        k.find(".fit") != std::string::npos || k.find(".per_layer") != std::string::npos) {
      continue;
    }
    // Per-layer keys (".L3", ".moe2") are summarised by their strategy-wide counterparts.
    const auto dot = k.rfind('.');
    const std::string last = k.substr(dot + 1);
    if ((last.size() > 1 && last[0] == 'L' && std::isdigit(static_cast<unsigned char>(last[1]))) ||
        (last.rfind("moe", 0) == 0 && last.size() > 3 &&
         std::isdigit(static_cast<unsigned char>(last[3])))) {
      continue;
    }
    // The value alone: details stay in --json.
    const std::string text = v.value_text();
    std::string value = text.size() > 60 ? text.substr(0, 57) + "..." : text;
    shown += fmt::format("{}{}={}", shown.empty() ? "" : "; ", k, value);
  }
  return shown.empty() ? "-" : shown;
}

void compare(const CompareOptions& o) {
  io::check_outputs({{"--json", o.json_file}, {"--csv", o.csv_file}, {"--html", o.html_file}},
                    job_input_paths(o.job));
  const auto chosen = parse_strategies(o.strategies, "--strategies");
  if (o.job.model.empty() != o.job.parallel.empty()) {
    throw input_error("", o.job.model.empty() ? "--model" : "--parallel",
                      "give both --model and --parallel, or neither for the built-in default job",
                      "only one", "both or neither");
  }
  const bool builtin = o.job.model.empty();
  JobOptions job = o.job;
  if (builtin) {
    const JobOptions d = default_job();
    job.model = d.model;
    job.overrides = job.overrides.empty() ? d.overrides : d.overrides + "," + job.overrides;
    job.topology = d.topology;
    job.nodes = d.nodes;
    job.parallel = d.parallel;
    job.routing = d.routing;
    job.iterations = d.iterations;
  }
  const PreparedJob p = prepare_job(job);
  // The built-in job shards experts (esp = 8): with every strategy asked for, those that place
  // whole experts only (FasterMoE, FlexMoE) are named and skipped instead of failing the job.
  const bool skip_unfit = builtin && o.strategies == "all";
  if (!skip_unfit) {
    for (const auto& s : chosen) s->check_job(*p.first);  // refused before any output
  }
  if (builtin) fmt::print("built-in default job (give --model and --parallel for your own)\n");
  print_job(p);
  std::vector<StrategyResult> results;
  std::vector<std::string> skipped;
  job::Progress progress("compare", "iterations",
                         chosen.size() * static_cast<std::size_t>(p.iterations), false);
  for (const auto& s : chosen) {
    fmt::print(stderr, "simulating {} ...\n", s->name());
    try {
      results.push_back(simulate_strategy(p, *s, &progress));
    } catch (const InputError& e) {
      if (!skip_unfit) throw;
      skipped.push_back(fmt::format("{} ({})", s->name(), e.what()));
    }
  }
  if (results.empty()) {
    throw input_error("", "--strategies", "no strategy fits the job", o.strategies,
                      "strategies that accept its layout");
  }
  const double base = results.front().mean_iteration_us();
  // The name column fits the longest name (`megatron-a2a-overlap:vp=2` is 25 characters).
  std::size_t name_width = 20;
  for (const StrategyResult& r : results) name_width = std::max(name_width, r.name.size());
  fmt::print("\n{:<{}} {:>13} {:>8} {:>13} {:>13} {:>7}\n", "strategy", name_width, "iteration ms",
             "speedup", "exposed ms", "tokens/s", "MFU %");
  for (const StrategyResult& r : results) {
    fmt::print("{:<{}} {:>13.3f} {:>7.2f}x {:>13.3f} {:>13.0f} {:>7.1f}\n", r.name, name_width,
               r.mean_iteration_us() / 1e3, base / r.mean_iteration_us(), r.exposed_comm_us() / 1e3,
               r.tokens_per_s(p.tokens_per_iteration), 100.0 * r.mfu(p));
  }
  for (const std::string& why : skipped) fmt::print("skipped: {}\n", why);
  fmt::print("\nplanner decisions (speedup is over {})\n", results.front().name);
  for (const StrategyResult& r : results) {
    fmt::print("  {:<{}} {}\n", r.name, name_width, headline_decisions(r));
  }
  if (p.profile) {
    // Strategies emit different kernels (chunks, recomputation): each says what the profile priced.
    fmt::print("\ncalibration: share of kernel time from the profile (largest fallback group)\n");
    for (const StrategyResult& r : results) {
      const compute::CalibrationCoverage& c = *r.calibration_coverage;
      const std::string largest = c.uncovered.empty()
                                      ? std::string("none")
                                      : fmt::format("{} {:.1f} %", c.uncovered.front().label(),
                                                    100.0 * c.share_of(c.uncovered.front()));
      fmt::print("  {:<{}} {:5.1f} % ({})\n", r.name, name_width, 100.0 * c.profile_share(),
                 largest);
    }
  }
  if (p.iterations > 1) {
    fmt::print("\niteration times (ms)\n");
    for (const StrategyResult& r : results) {
      std::string list;
      for (double t : r.iteration_us) list += fmt::format(" {:9.3f}", t / 1e3);
      fmt::print("  {:<{}}{}\n", r.name, name_width, list);
    }
  }
  std::string json;
  std::string csv_text;
  std::string html;
  if (!o.json_file.empty() || !o.html_file.empty()) {
    nlohmann::ordered_json j;
    j["job"] = job_json(p);
    j["baseline"] = results.front().name;
    auto& arr = j["strategies"] = nlohmann::ordered_json::array();
    for (const StrategyResult& r : results) {
      auto s = strategy_result_json(p, r);
      s["speedup"] = base / r.mean_iteration_us();
      s["timeline"] = timeline_json(r.last.graph, r.record, r.summary);
      arr.push_back(std::move(s));
    }
    if (!o.json_file.empty()) json = j.dump(2) + "\n";
    if (!o.html_file.empty()) {
      html = report::html::render_html_report(
          report::html::ReportKind::compare, j,
          fmt::format("moesim compare: {} on {} GPUs ({})", p.model.name, p.topology->gpu_count(),
                      p.topology->name()),
          "--html");
    }
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
    csv_text = csv.to_string();
  }
  io::write_outputs({{"--json", o.json_file, json},
                     {"--csv", o.csv_file, csv_text},
                     {"--html", o.html_file, html}});
}

}  // namespace

void register_compare_command(CLI::App& root) {
  auto o = std::make_shared<CompareOptions>();
  const std::string names = strategies::strategy_names_help();
  CLI::App* cmd = root.add_subcommand(
      "compare", "Simulate one job with several strategies and compare them side by side");
  cmd->footer(
      "Every strategy builds its own task graph for the same model, layout, routing, topology\n"
      "and cost models; the table shows iteration time, speedup over the FIRST strategy listed,\n"
      "exposed (non-overlapped) communication, tokens/s, MFU, and what each planner decided\n"
      "(Parm schedule, Tutel degree, FSMoE degrees, Lancet partitions, FlexMoE replicas).\n"
      "Without --model/--parallel it runs a built-in default, the layout the seed systems\n"
      "optimise: GPT2-XL-MoE (8 layers, B=4, 8 experts, top-2, capacity 2.0) on 4 DGX-H100 nodes,\n"
      "MP+EP+ESP with tp = esp = 8 in each node and EP across nodes, zipf:0.5 routing (little\n"
      "dropping), 2 iterations, every strategy that shards experts (FasterMoE and FlexMoE\n"
      "place whole experts and are skipped). 'moesim reproduce' checks the strategies\n"
      "against their papers' published results.\n"
      "Examples:\n"
      "  moesim compare\n"
      "  moesim compare --json cmp.json --html cmp.html\n"
      "  moesim compare --model mixtral-8x7b --topology dgx-h100 --nodes 4 \\\n"
      "      --parallel tp=4,ep=8 --strategies deepspeed-moe,tutel,fastermoe --csv cmp.csv");
  add_job_options(*cmd, o->job, JobFlags{.required = false, .iterations = true});
  cmd->add_option("--strategies,-s", o->strategies,
                  "Comma list (each strategy once) or 'all' (default): " + names)
      ->capture_default_str();
  cmd->add_option("--json", o->json_file, "Write the comparison as JSON ('-' = stdout)");
  cmd->add_option("--csv", o->csv_file, "Write the comparison as CSV ('-' = stdout)");
  cmd->add_option("--html", o->html_file,
                  "Write a self-contained HTML report: time breakdown per strategy, planner "
                  "decisions, timelines of rank 0 and the slowest rank (opens offline; the same "
                  "page as `moesim report compare` of --json)");
  cmd->callback([o]() { compare(*o); });
}

}  // namespace moesim::app
