// moesim sweep: a grid of configurations x strategies, simulated on all cores, one CSV row per
// (configuration, strategy), a summary of speedups per strategy, and a regression gate against a
// baseline CSV (exit 1 when any case got slower than the tolerance allows).
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <thread>

#include "sim/app/cli_checks.hpp"
#include "sim/app/command.hpp"
#include "sim/app/job_runner.hpp"
#include "sim/core/errors.hpp"
#include "sim/io/csv.hpp"
#include "sim/io/output_file.hpp"
#include "sim/io/sweep_grid.hpp"
#include "sim/report/regression_check.hpp"
#include "sim/strategies/registry.hpp"

namespace moesim::app {
namespace {

struct SweepOptions {
  std::string grid_file;
  std::string strategies = "all";
  unsigned jobs = 0;
  std::string output = "-";
  std::string baseline;
  std::string tolerance = "1%";
  std::string limit_network;
  bool skip_invalid = false;
  bool quiet = false;
};

double parse_tolerance(const std::string& text) {
  std::string t = text;
  double scale = 1.0;
  if (!t.empty() && t.back() == '%') {
    t.pop_back();
    scale = 0.01;
  }
  try {
    std::size_t used = 0;
    const double v = std::stod(t, &used);
    if (used == t.size() && std::isfinite(v) && v >= 0.0 && v * scale <= 100.0) return v * scale;
  } catch (const std::exception&) {
  }
  throw input_error("", "--tolerance", "not a tolerance", text, "e.g. 1% or 0.01");
}

JobOptions case_options(const io::SweepCase& c, const std::string& grid_file) {
  JobOptions o;
  auto text = [&](const char* key, std::string& field) {
    if (auto it = c.settings.find(key); it != c.settings.end()) field = it->second;
  };
  auto number = [&](const char* key, auto& field) {
    if (auto it = c.settings.find(key); it != c.settings.end()) {
      try {
        std::size_t used = 0;
        const long long v = std::stoll(it->second, &used);
        if (used != it->second.size() || v < 0) throw std::invalid_argument("");
        field = static_cast<std::remove_reference_t<decltype(field)>>(v);
      } catch (const std::exception&) {
        throw input_error(grid_file, fmt::format("case {}: {}", c.id, key), "not a count",
                          it->second, "a non-negative integer");
      }
    }
  };
  text("model", o.model);
  text("topology", o.topology);
  number("nodes", o.nodes);
  text("network", o.network);
  text("gpu", o.gpu);
  text("parallel", o.parallel);
  text("order", o.order);
  text("expert_order", o.expert_order);
  text("routing", o.routing);
  number("seed", o.seed);
  number("iterations", o.iterations);
  o.overrides = c.model_set;
  return o;
}

// Progress on stderr: a redrawn bar on a terminal, a line every 10% otherwise (logs, CI).
class Progress {
 public:
  Progress(std::size_t total, bool quiet) : total_(total), quiet_(quiet), tty_(isatty(2) != 0) {}
  void tick() {
    const std::size_t done = ++done_;
    if (quiet_) return;
    std::lock_guard lock(mutex_);
    if (tty_) {
      const std::size_t width = 40;
      const std::size_t filled = width * done / total_;
      fmt::print(stderr, "\r[{}{}] {}/{} simulations", std::string(filled, '#'),
                 std::string(width - filled, ' '), done, total_);
      if (done == total_) fmt::print(stderr, "\n");
    } else if (done * 10 / total_ != (done - 1) * 10 / total_ || done == total_) {
      fmt::print(stderr, "sweep: {}/{} simulations ({}%)\n", done, total_, 100 * done / total_);
    }
  }

 private:
  std::size_t total_;
  bool quiet_;
  bool tty_;
  std::atomic<std::size_t> done_{0};
  std::mutex mutex_;
};

struct Row {
  bool valid = false;
  std::string error;
  double iteration_us = 0.0;
  double exposed_us = 0.0;
  double tokens_per_s = 0.0;
  std::string decisions;
};

void sweep(const SweepOptions& o) {
  io::check_output_path(o.output, "-o", {o.grid_file, o.baseline});
  const double tolerance = parse_tolerance(o.tolerance);
  const auto chosen = parse_strategies(o.strategies, "--strategies");
  std::map<report::SweepKey, double> baseline;
  if (!o.baseline.empty()) {
    const io::CsvTable old = io::CsvTable::load(o.baseline);
    const std::size_t c_case = old.column("case", o.baseline);
    const std::size_t c_strategy = old.column("strategy", o.baseline);
    const std::size_t c_time = old.column("iteration_us", o.baseline);
    for (std::size_t r = 0; r < old.rows().size(); ++r) {
      const auto& row = old.rows()[r];
      if (row[c_time].empty()) continue;  // an invalid case in the baseline
      double us = std::nan("");
      try {
        std::size_t used = 0;
        us = std::stod(row[c_time], &used);
        if (used != row[c_time].size()) us = std::nan("");
      } catch (const std::exception&) {
      }
      // A NaN or non-positive baseline would pass every comparison: refuse it.
      if (!(us > 0.0 && us < 1e15)) {
        throw input_error(o.baseline, fmt::format("row {}: iteration_us", r + 2), "not a time",
                          row[c_time], "microseconds > 0");
      }
      baseline[{row[c_case], row[c_strategy]}] = us;
    }
  }
  const io::SweepGrid grid = io::load_sweep_grid(o.grid_file);
  // Resolve every case first, on one thread: all input errors surface before any simulation.
  std::map<std::string, std::shared_ptr<const network::Topology>> topologies;
  std::vector<std::unique_ptr<PreparedJob>> jobs(grid.cases.size());
  std::vector<std::string> invalid(grid.cases.size());
  for (std::size_t i = 0; i < grid.cases.size(); ++i) {
    JobOptions options = case_options(grid.cases[i], o.grid_file);
    if (!o.limit_network.empty()) options.network = o.limit_network;
    try {
      jobs[i] = std::make_unique<PreparedJob>(prepare_job(options, &topologies));
    } catch (const InputError& e) {
      if (!o.skip_invalid) {
        throw InputError(fmt::format("{}: case {}: {}", o.grid_file, grid.cases[i].id, e.what()));
      }
      invalid[i] = e.what();
    }
  }
  const std::size_t n_strategies = chosen.size();
  std::vector<Row> rows(grid.cases.size() * n_strategies);
  const unsigned threads =
      std::max(1u, o.jobs ? o.jobs : std::max(1u, std::thread::hardware_concurrency()));
  Progress progress(rows.size(), o.quiet);
  fmt::print(stderr, "sweep {}: {} configurations x {} strategies on {} threads\n", grid.name,
             grid.cases.size(), n_strategies, threads);
  std::atomic<std::size_t> next{0};
  std::mutex error_mutex;
  std::string first_error;
  auto worker = [&]() {
    for (std::size_t w = next++; w < rows.size(); w = next++) {
      const std::size_t c = w / n_strategies;
      Row& row = rows[w];
      if (jobs[c]) {
        try {
          const StrategyResult r = simulate_strategy(*jobs[c], *chosen[w % n_strategies]);
          row.valid = true;
          row.iteration_us = r.mean_iteration_us();
          row.exposed_us = r.exposed_comm_us();
          row.tokens_per_s = r.tokens_per_s(jobs[c]->tokens_per_iteration);
          row.decisions = r.decisions_text();
        } catch (const std::exception& e) {
          std::lock_guard lock(error_mutex);
          if (first_error.empty()) {
            first_error = fmt::format("case {} strategy {}: {}", grid.cases[c].id,
                                      chosen[w % n_strategies]->name(), e.what());
          }
        }
      } else {
        row.error = invalid[c];
      }
      progress.tick();
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  if (!first_error.empty()) throw SimulationError(first_error);

  // CSV, in grid order then strategy order: deterministic whatever the thread count.
  std::vector<std::string> header{"case"};
  for (const std::string& k : grid.axis_keys) header.push_back(k);
  for (const char* h : {"strategy", "iteration_us", "speedup", "exposed_comm_us", "tokens_per_s",
                        "decisions", "error"}) {
    header.emplace_back(h);
  }
  io::CsvTable csv(header);
  std::map<report::SweepKey, double> current;
  std::map<std::string, std::vector<double>> speedups;
  for (std::size_t c = 0; c < grid.cases.size(); ++c) {
    const double base = rows[c * n_strategies].iteration_us;
    for (std::size_t s = 0; s < n_strategies; ++s) {
      const Row& row = rows[c * n_strategies + s];
      const std::string name(chosen[s]->name());
      std::vector<std::string> fields{grid.cases[c].id};
      for (const std::string& k : grid.axis_keys) {
        auto it = grid.cases[c].varied.find(k);
        fields.push_back(it == grid.cases[c].varied.end() ? "" : it->second);
      }
      fields.push_back(name);
      if (row.valid) {
        const double speedup = base / row.iteration_us;
        fields.push_back(fmt::format("{:.3f}", row.iteration_us));
        fields.push_back(fmt::format("{:.4f}", speedup));
        fields.push_back(fmt::format("{:.3f}", row.exposed_us));
        fields.push_back(fmt::format("{:.0f}", row.tokens_per_s));
        fields.push_back(row.decisions);
        fields.emplace_back();
        current[{grid.cases[c].id, name}] = std::stod(fmt::format("{:.3f}", row.iteration_us));
        speedups[name].push_back(speedup);
      } else {
        for (int i = 0; i < 5; ++i) fields.emplace_back();
        fields.push_back(row.error);
      }
      csv.add_row(std::move(fields));
    }
  }
  io::write_file_atomically(o.output, csv.to_string());

  // Summary on stderr when the CSV goes to stdout, so the CSV stays clean.
  std::FILE* out = o.output == "-" ? stderr : stdout;
  const std::size_t skipped = static_cast<std::size_t>(std::count_if(
      invalid.begin(), invalid.end(), [](const std::string& e) { return !e.empty(); }));
  fmt::print(out, "\n{} configurations ({} skipped as invalid); speedup over {}:\n",
             grid.cases.size(), skipped, chosen.front()->name());
  fmt::print(out, "{:<18} {:>8} {:>8} {:>8} {:>8}\n", "strategy", "cases", "mean", "min", "max");
  for (const auto& s : chosen) {
    const auto& v = speedups[std::string(s->name())];
    if (v.empty()) continue;
    double sum = 0.0;
    for (double x : v) sum += x;
    fmt::print(out, "{:<18} {:>8} {:>7.3f}x {:>7.3f}x {:>7.3f}x\n", s->name(), v.size(),
               sum / static_cast<double>(v.size()), *std::min_element(v.begin(), v.end()),
               *std::max_element(v.begin(), v.end()));
  }
  if (!o.baseline.empty()) {
    const report::RegressionReport r = report::check_regressions(baseline, current, tolerance);
    fmt::print(out,
               "\nregression check against {} (tolerance {:.2f}%): {} compared, {} slower, "
               "{} faster, {} new, {} missing\n",
               o.baseline, tolerance * 100, r.compared, r.slower.size(), r.faster.size(),
               r.not_in_baseline.size(), r.missing_now.size());
    for (const auto& s : r.slower) {
      fmt::print(out, "  SLOWER {:+.2f}%  {} [{}]  {:.3f} -> {:.3f} us\n", 100 * s.slowdown(),
                 s.key.first, s.key.second, s.baseline_us, s.current_us);
    }
    if (!r.slower.empty())
      throw CommandExit(1, fmt::format("{} case(s) got slower", r.slower.size()));
  }
}

}  // namespace

void register_sweep_command(CLI::App& root) {
  auto o = std::make_shared<SweepOptions>();
  std::string names;
  for (auto n : strategies::strategy_names()) names += (names.empty() ? "" : ", ") + std::string(n);
  CLI::App* cmd = root.add_subcommand(
      "sweep", "Simulate a grid of configurations with several strategies; gate regressions");
  cmd->footer(
      "GRID is a JSON spec (docs/sweep-grid.md): a base job plus axes whose cartesian product\n"
      "gives the configurations. Writes one CSV row per (configuration, strategy) with the\n"
      "iteration time and the speedup over the FIRST strategy, and prints mean/min/max speedups.\n"
      "With --baseline OLD.csv, lists every case slower than OLD by more than --tolerance and\n"
      "exits 1 if there is any, so a scheduler change can be gated in CI.\n"
      "Examples:\n"
      "  moesim sweep traces/grids/fsmoe-1458.json --strategies tutel,fsmoe -o results.csv\n"
      "  moesim sweep traces/grids/fsmoe-1458.json --strategies tutel,fsmoe -o new.csv \\\n"
      "      --baseline results.csv --tolerance 1%");
  cmd->add_option("GRID", o->grid_file, "Sweep grid JSON file")->required()->check(existing_file());
  cmd->add_option("--strategies,-s", o->strategies, "Comma list or 'all': " + names)
      ->capture_default_str();
  cmd->add_option("--jobs,-j", o->jobs, "Threads (default: all cores)")->check(count_in(1, 1024));
  cmd->add_option("-o,--output", o->output, "CSV output file ('-' = stdout)")
      ->capture_default_str();
  cmd->add_option("--baseline", o->baseline, "Earlier results CSV to compare against")
      ->check(existing_file());
  cmd->add_option("--tolerance", o->tolerance, "Allowed slowdown: 1% or 0.01")
      ->capture_default_str();
  cmd->add_option("--network", o->limit_network, "Override every case's network model");
  cmd->add_flag("--skip-invalid", o->skip_invalid,
                "Record configurations whose layout does not fit as errors instead of failing");
  cmd->add_flag("--quiet,-q", o->quiet, "No progress output");
  cmd->callback([o]() { sweep(*o); });
}

}  // namespace moesim::app
