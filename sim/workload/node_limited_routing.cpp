#include "sim/workload/node_limited_routing.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace moesim {

namespace {

/// 1 - (1 - p)^n for p in [0, 1], n > 0 (real n: picks per visiting token).
double touched(double p, double n) {
  if (p <= 0) return 0.0;
  if (p >= 1) return 1.0;
  return -std::expm1(n * std::log1p(-p));
}

/// q_b = min(1, lambda P_b) with sum q_b = target (<= number of nodes with P_b > 0).
std::vector<double> water_fill(const std::vector<double>& share, double target) {
  std::vector<double> q(share.size(), 0.0);
  double lo = 0, hi = 1;
  const auto total = [&](double lambda) {
    double s = 0;
    for (double p : share) s += std::min(1.0, lambda * p);
    return s;
  };
  while (total(hi) < target && hi < 1e18) hi *= 2;
  for (int it = 0; it < 200; ++it) {
    const double mid = 0.5 * (lo + hi);
    (total(mid) < target ? lo : hi) = mid;
  }
  for (std::size_t b = 0; b < share.size(); ++b) q[b] = std::min(1.0, hi * share[b]);
  return q;
}

}  // namespace

DistinctTokens expected_distinct_tokens(std::span<const std::int64_t> assignments,
                                        std::span<const int> node_of, int nodes,
                                        std::int64_t tokens, std::int64_t top_k, int node_limit) {
  if (assignments.size() != node_of.size() || nodes < 1 || top_k < 1) {
    throw std::invalid_argument("expected_distinct_tokens: mismatched sizes");
  }
  const std::size_t n = assignments.size();
  DistinctTokens out{std::vector<double>(n, 0.0),
                     std::vector<double>(static_cast<std::size_t>(nodes), 0.0)};
  if (tokens <= 0) return out;
  const double t = static_cast<double>(tokens);
  const double k = static_cast<double>(top_k);
  std::vector<double> p(n, 0.0), node_share(out.per_node.size(), 0.0);
  std::vector<double> node_assigned(out.per_node.size(), 0.0);
  int loaded_nodes = 0;
  for (std::size_t j = 0; j < n; ++j) {
    const int b = node_of[j];
    if (b < 0 || b >= nodes) throw std::invalid_argument("expected_distinct_tokens: bad node");
    p[j] = std::clamp(static_cast<double>(assignments[j]) / (k * t), 0.0, 1.0);
    node_share[static_cast<std::size_t>(b)] += p[j];
    node_assigned[static_cast<std::size_t>(b)] += static_cast<double>(assignments[j]);
  }
  for (double s : node_share) loaded_nodes += s > 0 ? 1 : 0;
  const bool limited = node_limit > 0 && node_limit < loaded_nodes;
  std::vector<double> visit(out.per_node.size(), 0.0);
  if (limited) {
    visit = water_fill(node_share, std::min(static_cast<double>(node_limit), k));
  } else {
    for (std::size_t b = 0; b < visit.size(); ++b)
      visit[b] = touched(std::min(1.0, node_share[b]), k);
  }
  for (std::size_t b = 0; b < visit.size(); ++b) {
    out.per_node[b] = std::min({t * visit[b], node_assigned[b], t});
  }
  for (std::size_t j = 0; j < n; ++j) {
    const auto b = static_cast<std::size_t>(node_of[j]);
    double d = 0;
    if (limited) {
      if (visit[b] > 0 && node_share[b] > 0) {
        const double picks = k * node_share[b] / visit[b];
        d = t * visit[b] * touched(p[j] / node_share[b], picks);
      }
    } else {
      d = t * touched(p[j], k);
    }
    out.per_gpu[j] = std::min({d, static_cast<double>(assignments[j]), out.per_node[b]});
  }
  // A node receives at least what its busiest GPU receives.
  for (std::size_t j = 0; j < n; ++j) {
    const auto b = static_cast<std::size_t>(node_of[j]);
    out.per_node[b] = std::max(out.per_node[b], out.per_gpu[j]);
  }
  return out;
}

}  // namespace moesim
