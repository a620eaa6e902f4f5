#include "sim/job/sweep_table.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "sim/core/errors.hpp"
#include "sim/job/sweep_runner.hpp"

namespace moesim::job {
namespace {

// Times keyed by (case, strategy) from a sweep CSV's rows that have one.
std::map<report::SweepKey, double> times_of(const io::CsvTable& table, const std::string& origin) {
  const std::size_t c_case = table.column("case", origin);
  const std::size_t c_strategy = table.column("strategy", origin);
  const std::size_t c_time = table.column("iteration_us", origin);
  std::map<report::SweepKey, double> times;
  for (std::size_t r = 0; r < table.rows().size(); ++r) {
    const auto& row = table.rows()[r];
    if (row[c_time].empty()) continue;  // an invalid or failed case
    double us = std::nan("");
    try {
      std::size_t used = 0;
      us = std::stod(row[c_time], &used);
      if (used != row[c_time].size()) us = std::nan("");
    } catch (const std::exception&) {
    }
    // A NaN or non-positive time would pass every comparison: refuse it.
    if (!(us > 0.0 && us < 1e15)) {
      throw input_error(origin, fmt::format("row {}: iteration_us", r + 2), "not a time",
                        row[c_time], "microseconds > 0");
    }
    times[{row[c_case], row[c_strategy]}] = us;
  }
  return times;
}

}  // namespace

io::CsvTable sweep_csv(const SweepPlan& plan, const std::vector<io::SweepCaseResult>& results) {
  std::vector<std::string> header{"case"};
  for (const std::string& k : plan.grid.axis_keys) header.push_back(k);
  for (const char* h : {"strategy", "iteration_us", "speedup", "exposed_comm_us", "tokens_per_s",
                        "decisions", "error"}) {
    header.emplace_back(h);
  }
  io::CsvTable csv(header);
  const std::size_t n = plan.strategies();
  for (std::size_t i = 0; i < results.size(); ++i) {
    const io::SweepCaseResult& r = results[i];
    const io::SweepCaseLine& c = plan.cases[i];
    const io::SweepCaseResult& base = results[i - i % n];  // the configuration's first strategy
    std::vector<std::string> fields{c.config_id};
    for (const std::string& k : plan.grid.axis_keys) {
      auto it = c.varied.find(k);
      fields.push_back(it == c.varied.end() ? "" : it->second);
    }
    fields.push_back(r.strategy);
    if (r.status == io::SweepCaseStatus::ok) {
      fields.push_back(fmt::format("{:.3f}", r.iteration_us));
      fields.push_back(base.status == io::SweepCaseStatus::ok
                           ? fmt::format("{:.4f}", base.iteration_us / r.iteration_us)
                           : "");
      fields.push_back(fmt::format("{:.3f}", r.exposed_comm_us));
      fields.push_back(fmt::format("{:.0f}", r.tokens_per_s));
      fields.push_back(r.decisions);
      fields.emplace_back();
    } else {
      for (int k = 0; k < 5; ++k) fields.emplace_back();
      fields.push_back(r.error);
    }
    csv.add_row(std::move(fields));
  }
  return csv;
}

void print_sweep_summary(std::FILE* out, const SweepPlan& plan,
                         const std::vector<io::SweepCaseResult>& results, bool skip_invalid) {
  const std::size_t n = plan.strategies();
  std::size_t invalid = 0;
  std::size_t failed = 0;
  std::map<std::string, std::vector<double>> speedups;
  std::vector<std::string> order;  // strategy names in --strategies order
  for (const std::string& spec : plan.strategy_specs) order.push_back(strategy_name_of(spec));
  for (std::size_t i = 0; i < results.size(); ++i) {
    const io::SweepCaseResult& r = results[i];
    if (r.status == io::SweepCaseStatus::invalid) ++invalid;
    if (r.status == io::SweepCaseStatus::failed) ++failed;
    const io::SweepCaseResult& base = results[i - i % n];
    if (r.status == io::SweepCaseStatus::ok && base.status == io::SweepCaseStatus::ok) {
      speedups[r.strategy].push_back(base.iteration_us / r.iteration_us);
    }
  }
  fmt::print(out,
             "\n{} configurations x {} strategies = {} cases ({} invalid, {} failed); speedup "
             "over {}:\n",
             plan.configurations(), n, results.size(), invalid, failed,
             order.empty() ? "" : order.front());
  fmt::print(out, "{:<18} {:>8} {:>8} {:>8} {:>8}\n", "strategy", "cases", "mean", "min", "max");
  for (const std::string& s : order) {
    const auto& v = speedups[s];
    if (v.empty()) continue;
    double sum = 0.0;
    for (double x : v) sum += x;
    fmt::print(out, "{:<18} {:>8} {:>7.3f}x {:>7.3f}x {:>7.3f}x\n", s, v.size(),
               sum / static_cast<double>(v.size()), *std::min_element(v.begin(), v.end()),
               *std::max_element(v.begin(), v.end()));
  }
  if (invalid > 0 && !skip_invalid) {
    fmt::print(out,
               "{} invalid cases (their layout or strategy does not fit; the CSV's error column "
               "says why) count as failed; --skip-invalid accepts them\n",
               invalid);
  }
  if (failed > 0) {
    fmt::print(out, "{} cases failed in the simulation; the CSV's error column says why\n", failed);
  }
}

std::map<report::SweepKey, double> load_baseline(const std::string& path) {
  return times_of(io::CsvTable::load(path), path);
}

std::size_t print_regressions(std::FILE* out, const std::string& baseline_path,
                              const std::map<report::SweepKey, double>& baseline,
                              const io::CsvTable& current, double tolerance) {
  const report::RegressionReport r =
      report::check_regressions(baseline, times_of(current, "sweep"), tolerance);
  fmt::print(out,
             "\nregression check against {} (tolerance {:.2f}%): {} compared, {} slower, "
             "{} faster, {} new, {} missing\n",
             baseline_path, tolerance * 100, r.compared, r.slower.size(), r.faster.size(),
             r.not_in_baseline.size(), r.missing_now.size());
  for (const auto& s : r.slower) {
    fmt::print(out, "  SLOWER {:+.2f}%  {} [{}]  {:.3f} -> {:.3f} us\n", 100 * s.slowdown(),
               s.key.first, s.key.second, s.baseline_us, s.current_us);
  }
  return r.slower.size();
}

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

}  // namespace moesim::job
