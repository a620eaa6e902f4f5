// The routing samplers (sim/workload/samplers.hpp): pinned draws (a seed gives these numbers
// with every standard library: a change here changes every generated routing) and two-sided
// statistical bands from each distribution's mean and variance.
#include "sim/workload/samplers.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace moesim {
namespace {

TEST(Samplers, PinnedDraws) {
  RoutingEngine rng(42);
  std::vector<std::int64_t> binomials;
  for (int i = 0; i < 4; ++i) binomials.push_back(binomial_draw(1000, 0.3, rng));
  EXPECT_EQ(binomials, (std::vector<std::int64_t>{283, 313, 283, 302}));
  RoutingEngine g(7);
  EXPECT_NEAR(gamma_draw(0.5, g), 0.14215069410580689, 1e-12);
  EXPECT_NEAR(gamma_draw(2.0, g), 0.78294180279052894, 1e-12);
  RoutingEngine d(9);
  const std::vector<double> w = dirichlet_draw(0.3, 4, d);
  ASSERT_EQ(w.size(), 4U);
  EXPECT_NEAR(w[0], 0.87574959033845012, 1e-12);
  EXPECT_NEAR(w[3], 0.077851921360050591, 1e-12);
}

// Sample means within 5 standard errors of the distribution's mean: fails by chance with
// probability ~6e-7 per check, and the seed is fixed, so a failure means a wrong sampler.
TEST(Samplers, BinomialMeanAndVariance) {
  RoutingEngine rng(1);
  for (const auto& [n, p] : std::vector<std::pair<std::int64_t, double>>{
           {10, 0.5}, {1000, 0.01}, {100000, 0.3}, {50, 0.9}}) {
    const int draws = 20000;
    double sum = 0.0;
    double sq = 0.0;
    for (int i = 0; i < draws; ++i) {
      const auto x = static_cast<double>(binomial_draw(n, p, rng));
      ASSERT_GE(x, 0.0);
      ASSERT_LE(x, static_cast<double>(n));
      sum += x;
      sq += x * x;
    }
    const double mean = sum / draws;
    const double var = sq / draws - mean * mean;
    const double want_var = static_cast<double>(n) * p * (1 - p);
    EXPECT_NEAR(mean, static_cast<double>(n) * p, 5.0 * std::sqrt(want_var / draws))
        << n << " " << p;
    // Variance of the sample variance ~ 2 sigma^4 / N for near-normal counts (generous 10x).
    EXPECT_NEAR(var, want_var, 10.0 * want_var * std::sqrt(2.0 / draws) + 0.05) << n << " " << p;
  }
}

TEST(Samplers, GammaMean) {
  RoutingEngine rng(3);
  for (double shape : {0.1, 0.7, 1.0, 3.5, 50.0}) {
    const int draws = 40000;
    double sum = 0.0;
    for (int i = 0; i < draws; ++i) sum += gamma_draw(shape, rng);
    // Gamma(k, 1): mean k, variance k.
    EXPECT_NEAR(sum / draws, shape, 5.0 * std::sqrt(shape / draws)) << shape;
  }
}

TEST(Samplers, EdgeCases) {
  RoutingEngine rng(5);
  EXPECT_EQ(binomial_draw(0, 0.5, rng), 0);
  EXPECT_EQ(binomial_draw(100, 0.0, rng), 0);
  EXPECT_EQ(binomial_draw(100, 1.0, rng), 100);
  EXPECT_EQ(binomial_draw(100, std::nan(""), rng), 0);
  EXPECT_EQ(gamma_draw(0.0, rng), 0.0);
  // alpha = 1e-300: every gamma underflows; the Dirichlet falls back to equal weights.
  const std::vector<double> w = dirichlet_draw(1e-300, 4, rng);
  for (double x : w) EXPECT_DOUBLE_EQ(x, 0.25);
  const std::int64_t big = binomial_draw(std::int64_t{1} << 40, 0.5, rng);
  EXPECT_NEAR(static_cast<double>(big), std::ldexp(1.0, 39), 5.0 * std::ldexp(1.0, 19));
}

}  // namespace
}  // namespace moesim
