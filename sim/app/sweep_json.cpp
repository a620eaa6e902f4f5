#include "sim/app/sweep_json.hpp"

#include <fmt/format.h>

#include <string>

namespace moesim::app {
namespace {

using Json = nlohmann::ordered_json;

// As the CSV writes it ("{:.3f}"), so the regression list is the one `sweep` prints.
double csv_precision(double us) { return std::stod(fmt::format("{:.3f}", us)); }

Json number_or_null(bool present, double x) { return present ? Json(x) : Json(nullptr); }

}  // namespace

nlohmann::ordered_json sweep_json(const job::SweepPlan& plan,
                                  const std::vector<io::SweepCaseResult>& results,
                                  const std::optional<SweepBaseline>& baseline) {
  Json j;
  j["grid"] = plan.grid.name;
  j["configurations"] = plan.configurations();
  auto& strategies = j["strategies"] = Json::array();
  for (const std::string& spec : plan.strategy_specs) {
    strategies.push_back(job::strategy_name_of(spec));
  }
  j["axes"] = plan.grid.axis_keys;
  const std::size_t n = plan.strategies();
  std::map<report::SweepKey, double> current;
  auto& cases = j["cases"] = Json::array();
  for (std::size_t i = 0; i < results.size(); ++i) {
    const io::SweepCaseResult& r = results[i];
    const io::SweepCaseResult& base = results[i - i % n];  // the configuration's first strategy
    const bool ok = r.status == io::SweepCaseStatus::ok;
    const bool speedup = ok && base.status == io::SweepCaseStatus::ok;
    Json c;
    c["index"] = r.index;
    c["config_id"] = r.config_id;
    c["varied"] = plan.cases[i].varied;
    c["strategy"] = r.strategy;
    c["status"] = io::to_string(r.status);
    c["iteration_us"] = number_or_null(ok, r.iteration_us);
    c["speedup"] = number_or_null(speedup, speedup ? base.iteration_us / r.iteration_us : 0.0);
    c["exposed_comm_us"] = number_or_null(ok, r.exposed_comm_us);
    c["tokens_per_s"] = number_or_null(ok, r.tokens_per_s);
    c["decisions"] = r.decisions;
    c["error"] = r.error;
    cases.push_back(std::move(c));
    if (ok) current[{r.config_id, r.strategy}] = csv_precision(r.iteration_us);
  }
  if (!baseline) {
    j["regressions"] = nullptr;
    return j;
  }
  const report::RegressionReport check =
      report::check_regressions(baseline->times_us, current, baseline->tolerance);
  Json g;
  g["baseline"] = baseline->path;
  g["tolerance"] = baseline->tolerance;
  g["compared"] = check.compared;
  auto& slower = g["slower"] = Json::array();
  for (const report::Regression& s : check.slower) {
    slower.push_back({{"config_id", s.key.first},
                      {"strategy", s.key.second},
                      {"baseline_us", s.baseline_us},
                      {"current_us", s.current_us}});
  }
  g["faster"] = check.faster.size();
  g["not_in_baseline"] = check.not_in_baseline.size();
  g["missing_now"] = check.missing_now.size();
  j["regressions"] = std::move(g);
  return j;
}

}  // namespace moesim::app
