#include "sim/workload/routing.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "sim/core/errors.hpp"
#include "sim/workload/samplers.hpp"

namespace moesim {

std::int64_t RoutingCounts::expert_total(std::int64_t layer, std::int64_t expert) const {
  std::int64_t sum = 0;
  for (std::int64_t s = 0; s < shape_.sources; ++s) sum += at(layer, s, expert);
  return sum;
}

std::int64_t expert_capacity(std::int64_t tokens, std::int64_t top_k, double capacity_factor,
                             std::int64_t experts) {
  const double c = std::ceil(static_cast<double>(top_k) * capacity_factor *
                             static_cast<double>(tokens) / static_cast<double>(experts));
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(c));
}

std::int64_t split_share(std::int64_t total, std::int64_t parts, std::int64_t i) {
  return total / parts + (i < total % parts ? 1 : 0);
}

namespace {

// SplitMix64: derives independent stream seeds from (seed, iteration, layer, source).
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
std::uint64_t seed_of(std::uint64_t seed, std::uint64_t a, std::uint64_t b = 0,
                      std::uint64_t c = 0) {
  return mix(mix(mix(mix(seed) ^ a) ^ b) ^ c);
}

// Largest-remainder apportionment of `total` over weights `p` (sum > 0), each capped at `cap`.
std::vector<std::int64_t> apportion(const std::vector<double>& p, std::int64_t total,
                                    std::int64_t cap) {
  const std::size_t n = p.size();
  std::vector<std::int64_t> out(n, 0);
  std::vector<bool> capped(n, false);
  std::int64_t left = total;
  // Repeat while capping frees tokens for the others.
  while (left > 0) {
    double weight = 0.0;
    for (std::size_t e = 0; e < n; ++e) weight += capped[e] ? 0.0 : p[e];
    if (weight <= 0.0) break;
    std::vector<std::pair<double, std::size_t>> rem;
    std::int64_t given = 0;
    for (std::size_t e = 0; e < n; ++e) {
      if (capped[e]) continue;
      const double exact = static_cast<double>(left) * p[e] / weight;
      const auto whole = static_cast<std::int64_t>(std::floor(exact));
      out[e] += whole;
      given += whole;
      rem.emplace_back(-(exact - static_cast<double>(whole)), e);
    }
    std::sort(rem.begin(), rem.end());
    for (std::size_t i = 0; given < left && i < rem.size(); ++i, ++given) ++out[rem[i].second];
    left = 0;
    for (std::size_t e = 0; e < n; ++e) {
      if (!capped[e] && out[e] >= cap) {
        left += out[e] - cap;
        out[e] = cap;
        capped[e] = true;
      }
    }
  }
  return out;
}

// Multinomial sample of `total` draws over `p`, each count capped at `cap` (a token picks k
// distinct experts); the overflow goes to the uncapped experts by apportionment.
std::vector<std::int64_t> sample(const std::vector<double>& p, std::int64_t total, std::int64_t cap,
                                 RoutingEngine& rng) {
  std::vector<std::int64_t> out(p.size(), 0);
  std::int64_t left = total;
  double mass = std::accumulate(p.begin(), p.end(), 0.0);
  for (std::size_t e = 0; e + 1 < p.size() && left > 0; ++e) {
    const double q = mass > 0 ? std::clamp(p[e] / mass, 0.0, 1.0) : 0.0;
    out[e] = binomial_draw(left, q, rng);
    left -= out[e];
    mass -= p[e];
  }
  out.back() += left;
  std::int64_t overflow = 0;
  std::vector<double> room(p.size(), 0.0);
  for (std::size_t e = 0; e < p.size(); ++e) {
    if (out[e] > cap) {
      overflow += out[e] - cap;
      out[e] = cap;
    }
    room[e] = static_cast<double>(cap - out[e]);
  }
  if (overflow > 0) {
    const auto extra = apportion(room, overflow, cap);
    for (std::size_t e = 0; e < p.size(); ++e) out[e] = std::min(cap, out[e] + extra[e]);
  }
  return out;
}

std::vector<std::size_t> permutation(std::size_t n, RoutingEngine& rng) {
  std::vector<std::size_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0);
  // Fisher-Yates with our own index draws: std::shuffle's use of the engine is unspecified.
  for (std::size_t i = n; i > 1; --i) {
    const std::size_t j = static_cast<std::size_t>(rng() % i);
    std::swap(perm[i - 1], perm[j]);
  }
  return perm;
}

}  // namespace

std::string GeneratedRouting::describe() const {
  switch (distribution_) {
    case RoutingDistribution::uniform:
      return "uniform";
    case RoutingDistribution::zipf:
      return fmt::format("zipf:{} (seed {})", parameter_, seed_);
    case RoutingDistribution::dirichlet:
      return fmt::format("dirichlet:{} (seed {})", parameter_, seed_);
    case RoutingDistribution::drift:
      return fmt::format("drift:{} (seed {})", parameter_, seed_);
  }
  return "?";
}

RoutingCounts GeneratedRouting::counts(std::int64_t iteration, const RoutingShape& shape) const {
  RoutingCounts out(shape);
  const auto experts = static_cast<std::size_t>(shape.experts);
  const std::int64_t total = shape.top_k * shape.tokens_per_source;
  const std::int64_t cap = shape.tokens_per_source;
  const auto it = static_cast<std::uint64_t>(iteration);
  for (std::int64_t l = 0; l < shape.moe_layers; ++l) {
    const auto ul = static_cast<std::uint64_t>(l);
    std::vector<double> p(experts, 1.0);
    if (distribution_ == RoutingDistribution::zipf || distribution_ == RoutingDistribution::drift) {
      RoutingEngine rng(seed_of(seed_, 0x5a1f, ul));
      std::vector<std::size_t> rank_of = permutation(experts, rng);  // expert -> popularity rank
      if (distribution_ == RoutingDistribution::drift) {
        std::vector<std::size_t> expert_at(experts);  // rank -> expert
        for (std::size_t e = 0; e < experts; ++e) expert_at[rank_of[e]] = e;
        const std::size_t swaps = (experts + 7) / 8;
        for (std::int64_t i = 1; i <= iteration && experts > 1; ++i) {
          RoutingEngine step(seed_of(seed_, 0xd21f, ul, static_cast<std::uint64_t>(i)));
          for (std::size_t s = 0; s < swaps; ++s) {
            const std::size_t r = static_cast<std::size_t>(step() % (experts - 1));
            std::swap(expert_at[r], expert_at[r + 1]);
          }
        }
        for (std::size_t r = 0; r < experts; ++r) rank_of[expert_at[r]] = r;
      }
      for (std::size_t e = 0; e < experts; ++e) {
        p[e] = 1.0 / std::pow(static_cast<double>(rank_of[e] + 1), parameter_);
      }
    } else if (distribution_ == RoutingDistribution::dirichlet) {
      RoutingEngine rng(seed_of(seed_, 0xd1c1, it, ul));
      p = dirichlet_draw(parameter_, experts, rng);
    }
    for (std::int64_t s = 0; s < shape.sources; ++s) {
      std::vector<std::int64_t> c;
      if (distribution_ == RoutingDistribution::uniform) {
        c = apportion(p, total, cap);
      } else {
        RoutingEngine rng(seed_of(seed_, it, ul, static_cast<std::uint64_t>(s) + 1));
        c = sample(p, total, cap, rng);
      }
      for (std::size_t e = 0; e < experts; ++e) out.set(l, s, static_cast<std::int64_t>(e), c[e]);
    }
  }
  return out;
}

std::string TraceRouting::describe() const { return fmt::format("trace {}", trace_.origin); }

RoutingCounts TraceRouting::counts(std::int64_t iteration, const RoutingShape& shape) const {
  if (trace_.experts != shape.experts) {
    throw input_error(trace_.origin, "/experts", "routing trace is for another expert count",
                      std::to_string(trace_.experts), std::to_string(shape.experts));
  }
  RoutingCounts out(shape);
  const auto& iter = trace_.counts[static_cast<std::size_t>(iteration) % trace_.counts.size()];
  const std::int64_t total = shape.top_k * shape.tokens_per_source;
  for (std::int64_t l = 0; l < shape.moe_layers; ++l) {
    const RoutingTraceLayer& layer = iter[static_cast<std::size_t>(l) % iter.size()];
    for (std::int64_t s = 0; s < shape.sources; ++s) {
      const auto first = layer.cells.begin() + (s % layer.sources) * trace_.experts;
      std::vector<double> p(first, first + trace_.experts);
      if (std::accumulate(p.begin(), p.end(), 0.0) <= 0.0) p.assign(p.size(), 1.0);
      const auto c = apportion(p, total, shape.tokens_per_source);
      for (std::int64_t e = 0; e < shape.experts; ++e) {
        out.set(l, s, e, c[static_cast<std::size_t>(e)]);
      }
    }
  }
  return out;
}

std::unique_ptr<RoutingModel> parse_routing_generator(std::string_view text, std::uint64_t seed,
                                                      std::string_view flag) {
  if (text == "uniform") {
    return std::make_unique<GeneratedRouting>(RoutingDistribution::uniform, 0.0, seed);
  }
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos) return nullptr;
  const std::string_view kind = text.substr(0, colon);
  RoutingDistribution d;
  if (kind == "zipf")
    d = RoutingDistribution::zipf;
  else if (kind == "dirichlet")
    d = RoutingDistribution::dirichlet;
  else if (kind == "drift")
    d = RoutingDistribution::drift;
  else
    return nullptr;
  const std::string value(text.substr(colon + 1));
  double v = 0.0;
  try {
    std::size_t used = 0;
    v = std::stod(value, &used);
    if (used != value.size()) v = -1.0;
  } catch (const std::exception&) {
    v = -1.0;
  }
  // Bounds: a Zipf exponent of 100 already puts all but 1e-30 of the mass on one expert, and a
  // Dirichlet alpha of 1e6 is uniform to 1e-3; beyond them nothing changes but the arithmetic
  // (inf, NaN) would break.
  const bool ok =
      std::isfinite(v) &&
      (d == RoutingDistribution::dirichlet ? v > 0.0 && v <= 1e6 : v >= 0.0 && v <= 100.0);
  if (!ok) {
    throw input_error(
        "", flag, fmt::format("bad {} parameter", kind), value,
        d == RoutingDistribution::dirichlet ? "alpha > 0 and <= 1e6" : "exponent in [0, 100]");
  }
  return std::make_unique<GeneratedRouting>(d, v, seed);
}

}  // namespace moesim
