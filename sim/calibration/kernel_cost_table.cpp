#include "sim/calibration/kernel_cost_table.hpp"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <utility>

#include "sim/core/errors.hpp"

namespace moesim::calibration {
namespace {

using Samples = std::vector<std::pair<std::int64_t, double>>;  // (coordinate, rate), sorted

/// Linear in log(coordinate) between the two samples that bracket x; nothing outside them.
std::optional<double> interpolate_log(const Samples& s, std::int64_t x) {
  if (s.empty() || x < s.front().first || x > s.back().first) return std::nullopt;
  const auto hi = std::lower_bound(s.begin(), s.end(), x,
                                   [](const auto& p, std::int64_t v) { return p.first < v; });
  if (hi->first == x) return hi->second;
  const auto lo = std::prev(hi);
  if (lo->first <= 0) {  // log undefined: plain linear interpolation
    const double t =
        static_cast<double>(x - lo->first) / static_cast<double>(hi->first - lo->first);
    return lo->second + t * (hi->second - lo->second);
  }
  const double t = std::log(static_cast<double>(x) / static_cast<double>(lo->first)) /
                   std::log(static_cast<double>(hi->first) / static_cast<double>(lo->first));
  return lo->second + t * (hi->second - lo->second);
}

}  // namespace

std::string_view to_string(EstimateSource s) {
  switch (s) {
    case EstimateSource::measured:
      return "measured";
    case EstimateSource::interpolated:
      return "interpolated";
    case EstimateSource::fallback:
      return "fallback";
  }
  return "?";
}

double nominal_work(KernelKind kind, const KernelShape& shape) {
  const double m = static_cast<double>(shape.m);
  const double n = static_cast<double>(shape.n);
  const double k = static_cast<double>(shape.k);
  const double b = static_cast<double>(std::max<std::int64_t>(shape.batch, 1));
  switch (kind) {
    case KernelKind::gemm:
      return 2.0 * m * n * k * b;
    case KernelKind::attention:  // QK^T and PV: two GEMMs of m x n x k
      return 4.0 * m * n * k * b;
    default:
      return m * std::max(n, 1.0) * b;
  }
}

void KernelCostTable::add(const KernelPoint& point) {
  MOESIM_CHECK(point.time_us > 0.0, "kernel point time must be > 0 (got {})", point.time_us);
  points_.push_back(point);
}

void KernelCostTable::finalize() {
  std::sort(points_.begin(), points_.end(), [](const KernelPoint& a, const KernelPoint& b) {
    return std::tie(a.k, a.n, a.m, a.time_us) < std::tie(b.k, b.n, b.m, b.time_us);
  });
  std::vector<KernelPoint> merged;
  for (std::size_t i = 0; i < points_.size();) {
    std::size_t j = i;
    while (j < points_.size() && points_[j].k == points_[i].k && points_[j].n == points_[i].n &&
           points_[j].m == points_[i].m) {
      ++j;
    }
    KernelPoint p = points_[i + (j - i - 1) / 2];  // median (lower middle) of sorted repeats
    merged.push_back(p);
    i = j;
  }
  points_ = std::move(merged);
  grid_.clear();
  for (const KernelPoint& p : points_) grid_[p.k][p.n].push_back(p);
}

double KernelCostTable::rate(const KernelPoint& p) const {
  return nominal_work(kind_, {p.m, p.n, p.k, batch_}) / p.time_us;
}

std::optional<double> KernelCostTable::rate_at_m(const std::vector<KernelPoint>& curve,
                                                 std::int64_t m) const {
  Samples s;
  for (const KernelPoint& p : curve) s.emplace_back(p.m, rate(p));
  return interpolate_log(s, m);
}

std::optional<double> KernelCostTable::rate_at_nm(
    const std::map<std::int64_t, std::vector<KernelPoint>>& by_n, std::int64_t n,
    std::int64_t m) const {
  Samples s;
  for (const auto& [curve_n, curve] : by_n) {
    if (const auto r = rate_at_m(curve, m)) s.emplace_back(curve_n, *r);
  }
  return interpolate_log(s, n);
}

std::optional<KernelEstimate> KernelCostTable::lookup(std::int64_t m, std::int64_t n,
                                                      std::int64_t k) const {
  if (const auto kit = grid_.find(k); kit != grid_.end()) {
    if (const auto nit = kit->second.find(n); nit != kit->second.end()) {
      for (const KernelPoint& p : nit->second) {
        if (p.m == m) return KernelEstimate{p.time_us, EstimateSource::measured};
      }
    }
  }
  Samples s;
  for (const auto& [grid_k, by_n] : grid_) {
    if (const auto r = rate_at_nm(by_n, n, m)) s.emplace_back(grid_k, *r);
  }
  const auto r = interpolate_log(s, k);
  if (!r || *r <= 0.0) return std::nullopt;
  return KernelEstimate{nominal_work(kind_, {m, n, k, batch_}) / *r, EstimateSource::interpolated};
}

}  // namespace moesim::calibration
