// The random draws behind routing generators, written here rather than taken from <random>:
// std::binomial_distribution, std::gamma_distribution and friends are specified only by their
// distribution, and libstdc++, libc++ and MSVC produce different numbers from the same engine
// state. The engine (std::mt19937_64) is fully specified by the standard, so with these samplers
// a seed gives the same routing with every standard library.
//
// Methods (textbook, exact up to floating-point rounding):
//  - uniform: the top 53 bits of one engine output, scaled to [0, 1);
//  - standard normal: Marsaglia's polar method;
//  - gamma(shape, 1): Marsaglia and Tsang, "A simple method for generating gamma variables",
//    ACM TOMS 26(3), 2000 (shape >= 1; shape < 1 via gamma(shape + 1) * U^(1/shape), their
//    section 6);
//  - binomial(n, p): inversion by chop-down search from the mode (Kemp's method, e.g. Devroye,
//    "Non-Uniform Random Variate Generation", 1986, X.4): O(sqrt(n p (1-p))) steps per draw;
//  - Dirichlet(alpha, k): k gamma(alpha) draws, normalised.
// They use std::log, std::exp, std::sqrt and std::lgamma; sqrt is correctly rounded everywhere
// and the others agree between common C libraries to the last bit or so, which moves a draw only
// when a uniform lands within ~1e-16 of a boundary.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace moesim {

using RoutingEngine = std::mt19937_64;

/// Uniform in [0, 1).
double uniform01(RoutingEngine& rng);
/// Standard normal.
double standard_normal(RoutingEngine& rng);
/// Gamma(shape, scale 1); shape > 0. Returns 0 when the draw underflows (tiny shapes).
double gamma_draw(double shape, RoutingEngine& rng);
/// Binomial(n, p); n >= 0, p clamped to [0, 1].
std::int64_t binomial_draw(std::int64_t n, double p, RoutingEngine& rng);
/// Dirichlet(alpha, ..., alpha) over k categories; all-equal weights if every gamma underflows.
std::vector<double> dirichlet_draw(double alpha, std::size_t k, RoutingEngine& rng);

}  // namespace moesim
