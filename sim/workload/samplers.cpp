#include "sim/workload/samplers.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace moesim {

double uniform01(RoutingEngine& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

double standard_normal(RoutingEngine& rng) {
  // Marsaglia's polar method; the second variate is dropped so each draw uses a fixed recipe.
  for (;;) {
    const double u = 2.0 * uniform01(rng) - 1.0;
    const double v = 2.0 * uniform01(rng) - 1.0;
    const double s = u * u + v * v;
    if (s > 0.0 && s < 1.0) return u * std::sqrt(-2.0 * std::log(s) / s);
  }
}

double gamma_draw(double shape, RoutingEngine& rng) {
  if (!(shape > 0.0)) return 0.0;
  if (shape < 1.0) {
    // Marsaglia-Tsang section 6: gamma(a) = gamma(a + 1) * U^(1/a).
    const double g = gamma_draw(shape + 1.0, rng);
    double u = uniform01(rng);
    while (u == 0.0) u = uniform01(rng);
    return g * std::exp(std::log(u) / shape);
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x = 0.0;
    double v = 0.0;
    do {
      x = standard_normal(rng);
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    const double u = uniform01(rng);
    if (u < 1.0 - 0.0331 * (x * x) * (x * x)) return d * v;
    if (u > 0.0 && std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}

std::int64_t binomial_draw(std::int64_t n, double p, RoutingEngine& rng) {
  if (n <= 0 || !(p > 0.0)) return 0;
  if (p >= 1.0) return n;
  if (p > 0.5) return n - binomial_draw(n, 1.0 - p, rng);
  const double q = 1.0 - p;
  const double dn = static_cast<double>(n);
  // Start at the mode with its probability, then take probability mass alternately below and
  // above it until the uniform is used up (chop-down search).
  const auto mode = std::min(n, static_cast<std::int64_t>(std::floor((dn + 1.0) * p)));
  const double dm = static_cast<double>(mode);
  const double log_pmf = std::lgamma(dn + 1.0) - std::lgamma(dm + 1.0) -
                         std::lgamma(dn - dm + 1.0) + dm * std::log(p) + (dn - dm) * std::log(q);
  const double f_mode = std::exp(log_pmf);
  double u = uniform01(rng) - f_mode;
  if (u <= 0.0) return mode;
  const double odds = p / q;
  std::int64_t lo = mode;
  std::int64_t hi = mode;
  double f_lo = f_mode;
  double f_hi = f_mode;
  while (lo > 0 || hi < n) {
    if (lo > 0) {
      f_lo *= static_cast<double>(lo) / (static_cast<double>(n - lo + 1) * odds);
      --lo;
      u -= f_lo;
      if (u <= 0.0) return lo;
    }
    if (hi < n) {
      f_hi *= static_cast<double>(n - hi) * odds / static_cast<double>(hi + 1);
      ++hi;
      u -= f_hi;
      if (u <= 0.0) return hi;
    }
    // Both tails below the smallest double: the rounding leftover of u goes to the mode.
    if (f_lo < 1e-300 && f_hi < 1e-300) break;
  }
  return mode;
}

std::vector<double> dirichlet_draw(double alpha, std::size_t k, RoutingEngine& rng) {
  std::vector<double> w(k);
  for (double& x : w) x = gamma_draw(alpha, rng);
  const double sum = std::accumulate(w.begin(), w.end(), 0.0);
  if (!(sum > 0.0) || !std::isfinite(sum))
    return std::vector<double>(k, 1.0 / static_cast<double>(k));
  for (double& x : w) x /= sum;
  return w;
}

}  // namespace moesim
