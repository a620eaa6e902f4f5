// moesim run-case: runs sweep cases given as the JSON lines of `moesim sweep GRID --emit-cases`,
// without the grid file: a case line is the whole job. Results go to a results directory (the
// one `moesim sweep GRID --merge DIR` reads) or, without one, to stdout as JSON lines.
#include <fmt/format.h>

#include <iostream>
#include <string>
#include <vector>

#include "sim/app/command.hpp"
#include "sim/core/errors.hpp"
#include "sim/io/sweep_case_line.hpp"
#include "sim/job/sweep_runner.hpp"

namespace moesim::app {

using namespace job;  // the sweep library: sim/job/sweep_*
namespace {

struct RunCaseOptions {
  std::vector<std::string> cases;
  std::string results;
  unsigned jobs = 0;
  bool skip_invalid = false;
  bool quiet = false;
};

std::vector<io::SweepCaseLine> read_cases(const std::vector<std::string>& args) {
  std::vector<io::SweepCaseLine> cases;
  for (std::size_t a = 0; a < args.size(); ++a) {
    if (args[a] != "-") {
      cases.push_back(io::parse_case_line(args[a], fmt::format("CASE {}", a + 1)));
      continue;
    }
    std::string line;
    for (std::size_t n = 1; std::getline(std::cin, line); ++n) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      cases.push_back(io::parse_case_line(line, fmt::format("stdin: line {}", n)));
    }
  }
  return cases;
}

void run_cases(const RunCaseOptions& o) {
  const std::vector<io::SweepCaseLine> cases =
      read_cases(o.cases.empty() ? std::vector<std::string>{"-"} : o.cases);
  SweepRunSettings settings;
  settings.threads = o.jobs;
  settings.results_dir = o.results;
  settings.skip_invalid = o.skip_invalid;
  settings.quiet = o.quiet || cases.size() < 2;
  const SweepRunOutcome run = run_sweep_cases(cases, settings);
  if (o.results.empty()) {
    for (const io::SweepCaseResult& r : run.results) fmt::print("{}", io::to_json_text(r));
  }
  const std::size_t failures = count_failures(run.results, o.skip_invalid);
  for (const io::SweepCaseResult& r : run.results) {
    if (r.status != io::SweepCaseStatus::ok) {
      fmt::print(stderr, "case {} ({} [{}]) {}: {}\n", r.index, r.config_id, r.strategy,
                 io::to_string(r.status), r.error);
    }
  }
  if (!o.quiet) {
    fmt::print(stderr, "run-case: {} cases: {} ran, {} already in {}, {} failed\n", cases.size(),
               run.ran, run.reused, o.results.empty() ? "-" : o.results, failures);
  }
  if (failures > 0) throw CommandExit(3, fmt::format("{} case(s) failed", failures));
}

}  // namespace

void register_run_case_command(CLI::App& root) {
  auto o = std::make_shared<RunCaseOptions>();
  CLI::App* cmd = root.add_subcommand(
      "run-case", "Run sweep cases given as JSON lines (from moesim sweep --emit-cases)");
  cmd->footer(
      "Each CASE is one line written by `moesim sweep GRID --emit-cases`: the job, the strategy\n"
      "and the seed, so no grid file is needed. '-' (the default) reads one case per line from\n"
      "stdin. With --results DIR, writes DIR/case-I.json atomically for each case (skipping\n"
      "cases whose complete result is already there); `moesim sweep GRID --merge DIR` then\n"
      "assembles the CSV. Without --results, prints each result as a JSON line on stdout.\n"
      "Exit codes: 0 ok, 2 bad input, 3 some case failed (its error is in its result).\n"
      "Examples:\n"
      "  moesim sweep traces/grids/smoke.json --emit-cases > cases.jsonl\n"
      "  sed -n 3p cases.jsonl | moesim run-case --results out/\n"
      "  parallel --pipe -N 50 moesim run-case -j 1 --results out/ < cases.jsonl");
  cmd->add_option("CASE", o->cases, "Case lines (JSON), or '-' for stdin");
  cmd->add_option("--results", o->results, "Results directory (default: print results)");
  cmd->add_option("--jobs,-j", o->jobs, "Threads (default: all cores)");
  cmd->add_flag("--skip-invalid", o->skip_invalid,
                "Record configurations whose layout does not fit instead of failing");
  cmd->add_flag("--quiet,-q", o->quiet, "No progress or summary output");
  cmd->callback([o]() { run_cases(*o); });
}

}  // namespace moesim::app
