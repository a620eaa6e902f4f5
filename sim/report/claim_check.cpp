#include "sim/report/claim_check.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "sim/core/errors.hpp"

namespace moesim::report {

double Observation::mean_iteration_us() const {
  if (iteration_us.empty()) return 0.0;
  return std::accumulate(iteration_us.begin(), iteration_us.end(), 0.0) /
         static_cast<double>(iteration_us.size());
}

std::string_view to_string(Verdict v) {
  switch (v) {
    case Verdict::in_band:
      return "in band";
    case Verdict::out_of_band:
      return "OUT OF BAND";
    case Verdict::known_gap:
      return "known gap";
    case Verdict::unsupported:
      return "not runnable (known gap)";
    case Verdict::not_run:
      return "not run (sampled)";
  }
  return "?";
}

namespace {

// "ep.dispatch" matches ep.dispatch and ep.dispatch.bwd; "expert*" any name starting "expert".
bool name_matches(const std::string& name, const std::string& prefix) {
  if (!prefix.empty() && prefix.back() == '*') {
    return name.compare(0, prefix.size() - 1, prefix, 0, prefix.size() - 1) == 0;
  }
  return name == prefix ||
         (name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0 &&
          name[prefix.size()] == '.');
}

bool phase_matches(PhaseFilter f, const std::string& phase) {
  switch (f) {
    case PhaseFilter::forward:
      return phase == "forward";
    case PhaseFilter::backward:
      return phase == "backward";
    case PhaseFilter::any:
      return true;
  }
  return false;
}

OpStat op_time(const Observation& o, PhaseFilter phase, const std::vector<std::string>& tasks) {
  OpStat s;
  for (const auto& [key, stat] : o.ops) {
    if (!phase_matches(phase, key.first)) continue;
    for (const std::string& t : tasks) {
      if (name_matches(key.second, t)) {
        s.total_us += stat.total_us;
        s.count += stat.count;
        break;
      }
    }
  }
  return s;
}

double aggregate(Aggregate a, const std::vector<double>& values) {
  if (values.empty()) return 0.0;
  switch (a) {
    case Aggregate::mean:
      return std::accumulate(values.begin(), values.end(), 0.0) /
             static_cast<double>(values.size());
    case Aggregate::min:
      return *std::min_element(values.begin(), values.end());
    case Aggregate::max:
      return *std::max_element(values.begin(), values.end());
  }
  return 0.0;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double parse_number(const std::string& text, const std::string& where) {
  try {
    std::size_t used = 0;
    const double v = std::stod(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  throw SimulationError(fmt::format("{}: decision is not a number: '{}'", where, text));
}

class Evaluator {
 public:
  Evaluator(const Claim& claim, const ClaimObservations& observed)
      : claim_(claim), observed_(observed) {}

  /// The metric's value and the number of jobs it covers; nullopt when no job was observed.
  std::pair<std::optional<double>, std::size_t> value(const ClaimResult& r,
                                                      const std::map<std::string, double>& done) {
    const ClaimMetric& m = r.metric;
    if (m.kind == MetricKind::ordering) {
      double previous = m.above.value_or(-1e300);
      for (const std::string& name : m.increasing) {
        const auto it = done.find(name);
        if (it == done.end()) return {std::nullopt, 0};
        if (!(it->second > previous)) return {0.0, 0};
        previous = it->second;
      }
      return {1.0, 0};
    }
    std::vector<const std::map<std::string, Observation>*> jobs;
    for (const auto& [name, by_strategy] : observed_) {
      if (m.jobs.empty() || std::find(m.jobs.begin(), m.jobs.end(), name) != m.jobs.end()) {
        jobs.push_back(&by_strategy);
      }
    }
    if (jobs.empty()) return {std::nullopt, 0};
    std::vector<double> per_job;
    for (const auto* job : jobs) {
      if (m.kind == MetricKind::collective_fit) {
        per_job.push_back(fitted(get(*job, std::string(kNetworkOnly), r), r));
        continue;
      }
      const Observation* of = m.of.empty() ? nullptr : &get(*job, m.of, r);
      auto best_over = [&](auto&& time) {
        double best = 1e300;
        for (const std::string& o : m.over) best = std::min(best, time(get(*job, o, r)));
        return best;
      };
      switch (m.kind) {
        case MetricKind::speedup:
          per_job.push_back(best_over([](const Observation& o) { return o.mean_iteration_us(); }) /
                            of->mean_iteration_us());
          break;
        case MetricKind::op_time_ms: {
          const OpStat s = op_time(*of, m.phase, m.tasks);
          per_job.push_back((m.per_op && s.count > 0 ? s.total_us / s.count : s.total_us) * 1e-3);
          break;
        }
        case MetricKind::bandwidth_gbps: {
          const OpStat s = op_time(*of, m.phase, m.tasks);
          const double us = s.count > 0 ? s.total_us / static_cast<double>(s.count) : 0.0;
          per_job.push_back(us > 0 ? m.bytes / (us * 1e-6) / 1e9 : 0.0);
          break;
        }
        case MetricKind::op_time_ratio: {
          const double den = op_time(*of, m.phase, m.per_tasks).total_us;
          per_job.push_back(den > 0 ? op_time(*of, m.phase, m.tasks).total_us / den : 0.0);
          break;
        }
        case MetricKind::comm_share:
          per_job.push_back(of->exposed_ep_us / of->mean_iteration_us());
          break;
        case MetricKind::exposed_reduction: {
          const double base = best_over([](const Observation& o) { return o.exposed_ep_us; });
          per_job.push_back(base > 0 ? 1.0 - of->exposed_ep_us / base : 0.0);
          break;
        }
        case MetricKind::decision_fraction:
          per_job.push_back(decision(*of, m.decision, r) == m.equals ? 1.0 : 0.0);
          break;
        case MetricKind::decisions_differ:
          per_job.push_back(decision(*of, m.decision, r) != decision(*of, m.decision_b, r) ? 1.0
                                                                                           : 0.0);
          break;
        case MetricKind::decision_max: {
          double best = -1e300;
          bool any = false;
          for (const auto& [k, v] : of->decisions) {
            if (k.rfind(m.decision, 0) != 0) continue;
            best = std::max(best, parse_number(v, k));
            any = true;
          }
          if (!any) {
            throw SimulationError(fmt::format("{}: {}: no decision starting with '{}'", claim_.id,
                                              r.name, m.decision));
          }
          per_job.push_back(best);
          break;
        }
        case MetricKind::iteration_s:
          per_job.push_back(of->mean_iteration_us() * 1e-6);
          break;
        case MetricKind::iteration_ratio: {
          const auto& it = of->iteration_us;
          if (it.size() < 2) {
            throw SimulationError(
                fmt::format("{}: {}: needs at least two iterations", claim_.id, r.name));
          }
          per_job.push_back(*std::max_element(it.begin() + 1, it.end()) / median(it));
          break;
        }
        case MetricKind::planner_error:
          per_job.push_back(planner_error(*of, m, r));
          break;
        case MetricKind::ordering:
        case MetricKind::collective_fit:
          break;
      }
    }
    const Aggregate a =
        (m.kind == MetricKind::decision_fraction || m.kind == MetricKind::decisions_differ)
            ? Aggregate::mean
            : (m.kind == MetricKind::decision_max || m.kind == MetricKind::planner_error
                   ? Aggregate::max
                   : m.aggregate);
    return {aggregate(a, per_job), jobs.size()};
  }

 private:
  /// The worst relative error of the planner's span estimates: every decision "<decision>N"
  /// (us) against rank 0's forward span of layers N .. N + count - 1, count from decision
  /// "<decision_b>N".
  double planner_error(const Observation& o, const ClaimMetric& m, const ClaimResult& r) const {
    double worst = 0.0;
    bool any = false;
    for (const auto& [key, value] : o.decisions) {
      if (key.rfind(m.decision, 0) != 0) continue;
      const std::string layer_text = key.substr(m.decision.size());
      const int first = static_cast<int>(parse_number(layer_text, key));
      const int count = static_cast<int>(
          parse_number(decision(o, m.decision_b + layer_text, r), m.decision_b + layer_text));
      double start = 1e300, end = -1e300;
      for (int layer = first; layer < first + count; ++layer) {
        const auto it = o.layer_spans.find({"forward", layer});
        if (it == o.layer_spans.end()) {
          throw SimulationError(fmt::format("{}: {}: no forward task of layer {} on rank 0",
                                            claim_.id, r.name, layer));
        }
        start = std::min(start, it->second.start_us);
        end = std::max(end, it->second.end_us);
      }
      const double simulated = end - start;
      if (simulated <= 0.0) continue;
      worst = std::max(worst, std::abs(parse_number(value, key) / simulated - 1.0));
      any = true;
    }
    if (!any) {
      throw SimulationError(
          fmt::format("{}: {}: no decision starting with '{}'", claim_.id, r.name, m.decision));
    }
    return worst;
  }

  double fitted(const Observation& o, const ClaimResult& r) const {
    const auto it = o.sweeps.find(r.metric.sweep_key());
    if (it == o.sweeps.end()) {
      throw SimulationError(fmt::format("{}: {}: sweep '{}' was not observed", claim_.id, r.name,
                                        r.metric.sweep_key()));
    }
    std::vector<std::pair<double, double>> ms;  // (bytes, ms): the published units
    for (const auto& [bytes, us] : it->second) ms.emplace_back(bytes, us * 1e-3);
    const auto [alpha_ms, beta_ms_per_byte] = fit_line(ms);
    return r.metric.reading == FitReading::alpha_ms ? alpha_ms : beta_ms_per_byte;
  }
  const Observation& get(const std::map<std::string, Observation>& job, const std::string& label,
                         const ClaimResult& r) const {
    const auto it = job.find(label);
    if (it == job.end()) {
      throw SimulationError(
          fmt::format("{}: {}: strategy '{}' was not observed", claim_.id, r.name, label));
    }
    return it->second;
  }
  const std::string& decision(const Observation& o, const std::string& key,
                              const ClaimResult& r) const {
    const auto it = o.decisions.find(key);
    if (it == o.decisions.end()) {
      throw SimulationError(fmt::format("{}: {}: decision '{}' missing", claim_.id, r.name, key));
    }
    return it->second;
  }

  const Claim& claim_;
  const ClaimObservations& observed_;
};

std::string published_text(const ClaimResult& r) {
  if (r.published_range) return fmt::format("{:g}-{:g}", r.published_low, r.published_high);
  return fmt::format("{:g}", r.published);
}

}  // namespace

std::pair<double, double> fit_line(const std::vector<std::pair<double, double>>& points) {
  const double n = static_cast<double>(points.size());
  double sx = 0, sy = 0;
  for (const auto& [x, y] : points) {
    sx += x;
    sy += y;
  }
  const double mx = sx / n, my = sy / n;
  double sxx = 0, sxy = 0;
  for (const auto& [x, y] : points) {
    sxx += (x - mx) * (x - mx);
    sxy += (x - mx) * (y - my);
  }
  if (points.size() < 2 || !(sxx > 0)) {
    throw SimulationError(
        fmt::format("a line fit needs two distinct sizes (got {} points)", points.size()));
  }
  const double slope = sxy / sxx;
  return {my - slope * mx, slope};
}

std::vector<std::string> strategies_needed(const Claim& claim) {
  std::set<std::string> labels;
  for (const ClaimResult& r : claim.results) {
    if (!r.unsupported.empty()) continue;
    if (!r.metric.of.empty()) labels.insert(r.metric.of);
    labels.insert(r.metric.over.begin(), r.metric.over.end());
  }
  return {labels.begin(), labels.end()};
}

const KnownGap* find_gap(const std::vector<KnownGap>& gaps, const std::string& claim,
                         const std::string& result) {
  const std::string key = claim + "/" + result;
  for (const KnownGap& g : gaps) {
    if (g.result == key) return &g;
  }
  return nullptr;
}

std::vector<ResultCheck> check_claim(const Claim& claim, const ClaimObservations& observed,
                                     const std::vector<KnownGap>& gaps, bool sampled) {
  Evaluator eval(claim, observed);
  std::map<std::string, double> done;
  std::vector<ResultCheck> out;
  for (const ClaimResult& r : claim.results) {
    ResultCheck c;
    c.claim = claim.id;
    c.result = r.name;
    c.published = r.published;
    c.published_text = published_text(r);
    c.low = r.low;
    c.high = r.high;
    c.gating = r.gating;
    c.note = r.note;
    if (!r.unsupported.empty()) {
      c.verdict = Verdict::unsupported;
      c.note = r.unsupported;
      out.push_back(std::move(c));
      continue;
    }
    const bool extreme =
        r.metric.kind == MetricKind::decision_max || r.metric.kind == MetricKind::planner_error ||
        (r.metric.aggregate != Aggregate::mean && r.metric.kind != MetricKind::decision_fraction &&
         r.metric.kind != MetricKind::decisions_differ);
    if (sampled && extreme) {
      c.note = "an extreme of the full grid: run without --quick";
      out.push_back(std::move(c));
      continue;
    }
    const auto [value, jobs] = eval.value(r, done);
    c.jobs = jobs;
    if (value) {
      const double v = *value;
      done[r.name] = v;
      c.simulated = v;
      if (r.metric.kind == MetricKind::ordering) {
        c.error = v - 1.0;
      } else if (r.published_range) {
        c.error = v < r.published_low    ? v / r.published_low - 1.0
                  : v > r.published_high ? v / r.published_high - 1.0
                                         : 0.0;
      } else {
        c.error = r.published != 0.0 ? v / r.published - 1.0 : v;
      }
      const bool in = v >= r.low && v <= r.high;
      c.verdict = in                                 ? Verdict::in_band
                  : find_gap(gaps, claim.id, r.name) ? Verdict::known_gap
                                                     : Verdict::out_of_band;
    }
    out.push_back(std::move(c));
  }
  return out;
}

bool all_pass(const std::vector<ResultCheck>& checks) {
  return std::none_of(checks.begin(), checks.end(), [](const ResultCheck& c) {
    return c.gating && c.verdict == Verdict::out_of_band;
  });
}

std::vector<std::size_t> sample_indices(std::size_t n, std::size_t want) {
  std::vector<std::size_t> out;
  if (want == 0 || want >= n) {
    for (std::size_t i = 0; i < n; ++i) out.push_back(i);
    return out;
  }
  // A stride near n / golden ratio, coprime with n: consecutive picks land far apart on every
  // axis of a row-major grid.
  std::size_t stride = std::max<std::size_t>(1, static_cast<std::size_t>(0.618 * n));
  while (std::gcd(stride, n) != 1) ++stride;
  for (std::size_t j = 0; j < want; ++j) out.push_back((j * stride) % n);
  return out;
}

}  // namespace moesim::report
