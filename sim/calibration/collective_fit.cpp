#include "sim/calibration/collective_fit.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "sim/core/errors.hpp"

namespace moesim::calibration {
namespace {

constexpr std::int64_t kLatencyBoundBytes =
    64 * 1024;  // size buckets of vTrain/Lumos/SimAI-style validation
constexpr std::int64_t kBandwidthBoundBytes =
    64LL * 1024 * 1024;  // size buckets of vTrain/Lumos/SimAI-style validation

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

std::string_view to_string(TopologyLevel level) {
  return level == TopologyLevel::intra_node ? "intra_node" : "inter_node";
}

double CollectiveFit::time_us(std::int64_t size_bytes) const {
  return alpha_us + static_cast<double>(size_bytes) * bus_factor / (busbw_gbps * 1e3);
}

CollectiveFit fit_collective(std::span<const CollectiveMeasurement> rows, int source) {
  MOESIM_CHECK(!rows.empty(), "fit_collective needs rows");
  std::vector<CollectiveMeasurement> sorted(rows.begin(), rows.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.size_bytes < b.size_bytes; });
  CollectiveFit fit;
  fit.op = sorted.front().op;
  fit.ranks = sorted.front().ranks;
  fit.nodes = sorted.front().nodes;
  fit.level = fit.nodes > 1 ? TopologyLevel::inter_node : TopologyLevel::intra_node;
  fit.min_size_bytes = sorted.front().size_bytes;
  fit.max_size_bytes = sorted.back().size_bytes;
  fit.rows = static_cast<int>(sorted.size());
  fit.source = source;
  const std::size_t quarter = std::max<std::size_t>(1, sorted.size() / 4);

  // busbw from the bandwidth-bound tail.
  double busbw = 0.0;
  for (const auto& r : sorted) {
    if (r.size_bytes >= kBandwidthBoundBytes) busbw = std::max(busbw, r.busbw_gbps);
  }
  if (busbw <= 0.0) {
    for (std::size_t i = sorted.size() - quarter; i < sorted.size(); ++i) {
      busbw = std::max(busbw, sorted[i].busbw_gbps);
    }
  }
  if (busbw <= 0.0) {  // e.g. one rank: no traffic; time is all latency
    busbw = 1e12;
  }
  fit.busbw_gbps = busbw;

  // alpha from the latency-bound head, after removing the bandwidth term.
  for (auto it = sorted.rbegin(); it != sorted.rend(); ++it) {
    if (it->algbw_gbps > 0.0 && it->busbw_gbps > 0.0) {
      fit.bus_factor = it->busbw_gbps / it->algbw_gbps;
      break;
    }
  }
  const double factor = fit.bus_factor;
  std::vector<double> residual;
  for (const auto& r : sorted) {
    if (r.size_bytes <= kLatencyBoundBytes) {
      residual.push_back(r.time_us - static_cast<double>(r.size_bytes) * factor / (busbw * 1e3));
    }
  }
  if (residual.empty()) {
    for (std::size_t i = 0; i < quarter; ++i) {
      residual.push_back(sorted[i].time_us -
                         static_cast<double>(sorted[i].size_bytes) * factor / (busbw * 1e3));
    }
  }
  fit.alpha_us = std::max(0.0, median(residual));

  double sum = 0.0;
  for (const auto& r : sorted) {
    const double err = std::abs(fit.time_us(r.size_bytes) - r.time_us) / r.time_us;
    sum += err;
    fit.max_error = std::max(fit.max_error, err);
  }
  fit.mape = sum / static_cast<double>(sorted.size());
  return fit;
}

}  // namespace moesim::calibration
