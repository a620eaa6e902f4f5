// moesim sweep: a grid of configurations x strategies. In one process on all cores (the CSV, a
// summary of speedups per strategy, and a regression gate against a baseline CSV), or split into
// pure cases that any engine can run: --emit-cases lists them, --case I / --shard K/N run some
// into a results directory (resumable), --merge assembles the CSV from that directory.
#include <fmt/format.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <thread>

#include "sim/app/cli_checks.hpp"
#include "sim/app/command.hpp"
#include "sim/app/sweep_json.hpp"
#include "sim/core/errors.hpp"
#include "sim/io/output_file.hpp"
#include "sim/job/sweep_plan.hpp"
#include "sim/job/sweep_runner.hpp"
#include "sim/job/sweep_table.hpp"
#include "sim/report/html/html_report.hpp"
#include "sim/strategies/registry.hpp"

namespace moesim::app {

using namespace job;  // the sweep library: sim/job/sweep_*
namespace {

struct SweepOptions {
  std::string grid_file;
  std::string strategies = "all";
  unsigned jobs = 0;
  std::string output = "-";
  bool output_given = false;
  std::string baseline;
  std::string tolerance = "1%";
  std::string limit_network;
  bool skip_invalid = false;
  bool quiet = false;
  std::string results;
  std::string shard;
  std::optional<long long> case_index;
  bool emit_cases = false;
  std::vector<std::string> merge;
  std::string json_file;
  std::string html_file;
};

void emit_cases(const SweepPlan& plan, const SweepOptions& o) {
  std::string text;
  for (const io::SweepCaseLine& c : plan.cases) text += io::to_json_line(c) + "\n";
  io::write_file_atomically(o.output, text);
  if (o.output != "-") fmt::print(stderr, "{} cases written to {}\n", plan.cases.size(), o.output);
}

// Runs the cases of one shard (or one case) into the results directory; no CSV.
void run_part(const SweepPlan& plan, const SweepOptions& o, const SweepRunSettings& settings) {
  std::vector<io::SweepCaseLine> selected;
  std::string what;
  if (o.case_index) {
    if (*o.case_index < 0 || static_cast<std::size_t>(*o.case_index) >= plan.cases.size()) {
      throw input_error(
          "", "--case", "no such case", std::to_string(*o.case_index),
          fmt::format("0..{} ({} configurations x {} strategies)", plan.cases.size() - 1,
                      plan.configurations(), plan.strategies()));
    }
    selected.push_back(plan.cases[static_cast<std::size_t>(*o.case_index)]);
    what = fmt::format("case {}", *o.case_index);
  } else {
    const SweepShard shard = parse_shard(o.shard, "--shard");
    for (const io::SweepCaseLine& c : plan.cases) {
      if (shard.contains(c.index)) selected.push_back(c);
    }
    what = fmt::format("shard {}", o.shard);
  }
  const SweepRunOutcome run = run_sweep_cases(selected, settings);
  const std::size_t failures = count_failures(run.results, o.skip_invalid);
  if (o.results.empty()) {
    for (const io::SweepCaseResult& r : run.results) fmt::print("{}", io::to_json_text(r));
  }
  fmt::print(stderr, "sweep {} {}: {} cases: {} ran, {} already in {}, {} failed\n", plan.grid.name,
             what, selected.size(), run.ran, run.reused, o.results.empty() ? "-" : o.results,
             failures);
  for (const io::SweepCaseResult& r : run.results) {
    if (r.status == io::SweepCaseStatus::failed ||
        (r.status == io::SweepCaseStatus::invalid && !o.skip_invalid)) {
      fmt::print(stderr, "  case {} ({} [{}]): {}\n", r.index, r.config_id, r.strategy, r.error);
    }
  }
  if (failures > 0) throw CommandExit(3, fmt::format("{} case(s) failed", failures));
}

// Every case's result from the directories (the first complete one), in index order;
// InputError naming --merge when any case has none.
std::vector<io::SweepCaseResult> merged_results(const SweepPlan& plan,
                                                const std::vector<std::string>& dirs) {
  for (const std::string& dir : dirs) {
    if (!std::filesystem::is_directory(dir)) {
      throw input_error("", "--merge", "not a directory", dir, "a results directory (--results)");
    }
  }
  std::vector<io::SweepCaseResult> results;
  std::vector<std::size_t> missing;
  for (const io::SweepCaseLine& c : plan.cases) {
    std::optional<io::SweepCaseResult> r;
    for (std::size_t d = 0; d < dirs.size() && !r; ++d) {
      r = io::find_case_result(dirs[d], c.index, io::case_fingerprint(c));
    }
    if (r) {
      results.push_back(std::move(*r));
    } else {
      missing.push_back(c.index);
    }
  }
  if (!missing.empty()) {
    std::string first;
    for (std::size_t k = 0; k < std::min<std::size_t>(missing.size(), 8); ++k) {
      first += fmt::format("{}{}", k ? ", " : "", missing[k]);
    }
    throw input_error(
        "", "--merge",
        fmt::format("{} of {} cases have no complete result for this grid and strategy list "
                    "(missing: {}{}); run them (--case I, --shard K/N or the whole sweep with "
                    "--results) and merge again",
                    missing.size(), plan.cases.size(), first, missing.size() > 8 ? ", ..." : ""),
        fmt::format("{} results", results.size()), fmt::format("{}", plan.cases.size()));
  }
  return results;
}

void sweep(const SweepOptions& o) {
  const bool partial = o.case_index || !o.shard.empty();
  if (partial && o.output_given) {
    throw input_error("", "-o", "--case and --shard write results, not a CSV", o.output,
                      "--results DIR, then --merge DIR -o FILE");
  }
  if (!o.shard.empty() && o.results.empty()) {
    throw input_error("", "--shard", "a shard needs a results directory", "no --results",
                      "--results DIR (shared by every shard), then --merge DIR");
  }
  if ((partial || o.emit_cases) && (!o.json_file.empty() || !o.html_file.empty())) {
    throw input_error("", o.json_file.empty() ? "--html" : "--json",
                      "reports a whole sweep, not cases", "--case, --shard or --emit-cases",
                      "a whole sweep, or --merge DIR");
  }
  io::check_outputs({{"-o", o.output}, {"--json", o.json_file}, {"--html", o.html_file}},
                    {o.grid_file, o.baseline});
  const double tolerance = parse_tolerance(o.tolerance);
  std::map<report::SweepKey, double> baseline;
  if (!o.baseline.empty()) baseline = load_baseline(o.baseline);
  const SweepPlan plan = make_sweep_plan(o.grid_file, o.strategies, o.limit_network);
  if (o.emit_cases) return emit_cases(plan, o);

  SweepRunSettings settings;
  settings.threads = o.jobs;
  settings.results_dir = o.results;
  settings.skip_invalid = o.skip_invalid;
  settings.quiet = o.quiet;
  if (partial) return run_part(plan, o, settings);

  std::vector<io::SweepCaseResult> results;
  if (!o.merge.empty()) {
    results = merged_results(plan, o.merge);
  } else {
    fmt::print(stderr, "sweep {}: {} configurations x {} strategies = {} cases on {} threads\n",
               plan.grid.name, plan.configurations(), plan.strategies(), plan.cases.size(),
               o.jobs ? o.jobs : std::max(1u, std::thread::hardware_concurrency()));
    SweepRunOutcome run = run_sweep_cases(plan.cases, settings);
    if (!o.results.empty() && run.reused > 0) {
      fmt::print(stderr, "sweep: {} cases already in {}, {} ran\n", run.reused, o.results, run.ran);
    }
    results = std::move(run.results);
  }
  const io::CsvTable csv = sweep_csv(plan, results);
  std::string json;
  std::string html;
  if (!o.json_file.empty() || !o.html_file.empty()) {
    std::optional<SweepBaseline> against;
    if (!o.baseline.empty()) against = SweepBaseline{o.baseline, baseline, tolerance};
    const nlohmann::ordered_json j = sweep_json(plan, results, against);
    if (!o.json_file.empty()) json = j.dump(2) + "\n";
    if (!o.html_file.empty()) {
      html = report::html::render_html_report(report::html::ReportKind::sweep, j,
                                              "moesim sweep: " + plan.grid.name, "--html");
    }
  }
  io::write_outputs({{"-o", o.output, csv.to_string()},
                     {"--json", o.json_file, json},
                     {"--html", o.html_file, html}});

  // Summary on stderr when the CSV (or the JSON or HTML) goes to stdout, so that stays clean.
  std::FILE* out = o.output == "-" || o.json_file == "-" || o.html_file == "-" ? stderr : stdout;
  print_sweep_summary(out, plan, results, o.skip_invalid);
  const std::size_t failures = count_failures(results, o.skip_invalid);
  std::size_t slower = 0;
  if (!o.baseline.empty()) slower = print_regressions(out, o.baseline, baseline, csv, tolerance);
  if (failures > 0) throw CommandExit(3, fmt::format("{} case(s) failed", failures));
  if (slower > 0) throw CommandExit(1, fmt::format("{} case(s) got slower", slower));
}

}  // namespace

void register_sweep_command(CLI::App& root) {
  auto o = std::make_shared<SweepOptions>();
  const std::string names = strategies::strategy_names_help();
  CLI::App* cmd = root.add_subcommand(
      "sweep", "Simulate a grid of configurations with several strategies; split, resume, merge");
  cmd->footer(
      "GRID is a JSON spec (docs/sweep-grid.md): a base job plus axes whose cartesian product\n"
      "gives the configurations. A case is one (configuration, strategy); cases are numbered\n"
      "0..C*S-1, configuration-major, and each is a pure job: the same result on any machine.\n"
      "\n"
      "In one process (default): runs every case on all cores and writes one CSV row per case\n"
      "with the iteration time and the speedup over the FIRST strategy, then mean/min/max\n"
      "speedups. --results DIR keeps each case's result as DIR/case-I.json the moment it is\n"
      "done; run the same command again after a crash or kill and only missing cases run.\n"
      "\n"
      "Split across processes or machines (docs/sweep-grid.md has GNU parallel and Slurm\n"
      "recipes; scripts/sweep/slurm-array.sbatch is one):\n"
      "  --emit-cases        one JSON line per case (job, strategy, seed) for `moesim run-case`\n"
      "  --case I            run case I only (into --results DIR, or print its result JSON)\n"
      "  --shard K/N         run cases K-1, K-1+N, K-1+2N, ... into --results DIR\n"
      "  --merge DIR...      no simulation: the CSV from DIR's results (all must be there)\n"
      "A case whose strategy rejects its configuration, or whose simulation fails, records its\n"
      "error (CSV error column) and the others go on; the exit code is then 3.\n"
      "With --baseline OLD.csv, lists every case slower than OLD by more than --tolerance and\n"
      "exits 1 if there is any, so a scheduler change can be gated.\n"
      "Exit codes: 0 ok, 1 slower than the baseline, 2 bad input, 3 some case failed.\n"
      "Examples:\n"
      "  moesim sweep traces/grids/fsmoe-1458.json --strategies tutel,fsmoe -o results.csv\n"
      "  moesim sweep traces/grids/smoke.json -s tutel,fsmoe -o r.csv --html sweep.html\n"
      "  moesim sweep traces/grids/fsmoe-1458.json -s tutel,fsmoe --results out/ -o r.csv\n"
      "  moesim sweep traces/grids/fsmoe-1458.json -s tutel,fsmoe --shard 3/8 --results out/\n"
      "  moesim sweep traces/grids/fsmoe-1458.json -s tutel,fsmoe --merge out/ -o r.csv\n"
      "  moesim sweep traces/grids/fsmoe-1458.json --strategies tutel,fsmoe -o new.csv \\\n"
      "      --baseline results.csv --tolerance 1%");
  cmd->add_option("GRID", o->grid_file, "Sweep grid JSON file")->required()->check(existing_file());
  cmd->add_option(
         "--strategies,-s", o->strategies,
         "Comma list (each strategy once) or 'all' (the same list for every step of a split "
         "sweep): " +
             names)
      ->capture_default_str();
  cmd->add_option("--jobs,-j", o->jobs, "Threads (default: all cores)")->check(count_in(1, 1024));
  CLI::Option* output =
      cmd->add_option("-o,--output", o->output, "CSV (or --emit-cases) output file ('-' = stdout)")
          ->capture_default_str();
  cmd->add_option("--baseline", o->baseline, "Earlier results CSV to compare against")
      ->check(existing_file());
  cmd->add_option("--tolerance", o->tolerance, "Allowed slowdown: 1% or 0.01")
      ->capture_default_str();
  cmd->add_option("--network", o->limit_network, "Override every case's network model");
  cmd->add_flag("--skip-invalid", o->skip_invalid,
                "Accept cases whose layout or strategy does not fit (recorded with their error) "
                "instead of failing");
  cmd->add_flag("--quiet,-q", o->quiet, "No progress output");
  cmd->add_option("--json", o->json_file,
                  "Write every case, the speedups and the regression check as JSON ('-' = stdout)");
  cmd->add_option("--html", o->html_file,
                  "Write a self-contained HTML report: speedup distribution per strategy, "
                  "regressions against --baseline (opens offline)");
  CLI::Option* results = cmd->add_option("--results", o->results,
                                         "Results directory (one per sweep and moesim build): "
                                         "each finished case is written there (atomically) and "
                                         "cases already there are not run again")
                             ->type_name("DIR");
  CLI::Option* emit =
      cmd->add_flag("--emit-cases", o->emit_cases, "Print one JSON line per case; run nothing");
  CLI::Option* one =
      cmd->add_option("--case", o->case_index, "Run only case I (0-based)")->type_name("I");
  CLI::Option* shard =
      cmd->add_option("--shard", o->shard, "Run every N-th case: shard K of N (1 <= K <= N)")
          ->type_name("K/N");
  CLI::Option* merge =
      cmd->add_option("--merge", o->merge,
                      "Write the CSV from the results in DIR... (no simulation); several "
                      "directories (one per shard, say) are searched in order")
          ->expected(1, 1 << 20)
          ->type_name("DIR...");
  emit->excludes(one)->excludes(shard)->excludes(merge)->excludes(results);
  one->excludes(shard)->excludes(merge);
  shard->excludes(merge);
  merge->excludes(results);
  cmd->callback([o, output]() {
    o->output_given = output->count() > 0;
    sweep(*o);
  });
}

}  // namespace moesim::app
