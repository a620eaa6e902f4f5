// Token routing: how many tokens each source sends to each expert, per iteration and MoE layer.
//
// A source is a data-parallel replica (RankMapping: the tp ranks of a group share tokens); its
// micro-batch has T = micro_batch * seq_len tokens and every token picks top_k distinct experts,
// so for each (layer, source) the counts over experts sum to k*T and no count exceeds T. Every
// micro-batch of an iteration uses the iteration's counts. Counts are routed assignments
// before any capacity limit; strategies apply capacity (capacity()) and decide padding.
//
// Generators (all deterministic in (seed, iteration, layer, source)):
//   uniform            exactly balanced (k*T/E each, remainder to the lowest experts)
//   zipf:S             popularity p_e ~ 1/rank^S, ranks permuted per layer; multinomial per source
//   dirichlet:A        p ~ Dirichlet(A) per (iteration, layer); multinomial per source
//   drift:S            zipf:S whose ranking drifts: each iteration swaps ceil(E/8) random
//                      neighbouring ranks, so popularity changes smoothly (FlexMoE's fluctuation)
// Traces (sim/io/routing_trace.hpp) are rescaled to k*T per row and indexed modulo their size.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace moesim {

struct RoutingShape {
  std::int64_t moe_layers = 1;
  std::int64_t sources = 1;
  std::int64_t experts = 1;
  std::int64_t tokens_per_source = 1;  ///< T
  std::int64_t top_k = 1;
};

/// Counts of one iteration: at(layer, source, expert).
class RoutingCounts {
 public:
  RoutingCounts() = default;
  explicit RoutingCounts(const RoutingShape& shape)
      : shape_(shape),
        counts_(static_cast<std::size_t>(shape.moe_layers * shape.sources * shape.experts), 0) {}
  const RoutingShape& shape() const { return shape_; }
  std::int64_t at(std::int64_t layer, std::int64_t source, std::int64_t expert) const {
    return counts_[index(layer, source, expert)];
  }
  void set(std::int64_t layer, std::int64_t source, std::int64_t expert, std::int64_t v) {
    counts_[index(layer, source, expert)] = v;
  }
  /// Tokens routed to `expert` in `layer`, over all sources.
  std::int64_t expert_total(std::int64_t layer, std::int64_t expert) const;

 private:
  std::size_t index(std::int64_t l, std::int64_t s, std::int64_t e) const {
    return static_cast<std::size_t>((l * shape_.sources + s) * shape_.experts + e);
  }
  RoutingShape shape_;
  std::vector<std::int64_t> counts_;
};

/// Per-expert capacity of GShard/DeepSpeed gating for `tokens` local tokens: ceil(k*f*T/E).
std::int64_t expert_capacity(std::int64_t tokens, std::int64_t top_k, double capacity_factor,
                             std::int64_t experts);

/// Splits `total` into `parts` near-equal integers; part i gets one extra for i < total % parts.
std::int64_t split_share(std::int64_t total, std::int64_t parts, std::int64_t i);

class RoutingModel {
 public:
  virtual ~RoutingModel() = default;
  virtual std::string describe() const = 0;
  virtual RoutingCounts counts(std::int64_t iteration, const RoutingShape& shape) const = 0;
};

enum class RoutingDistribution : std::uint8_t { uniform, zipf, dirichlet, drift };

class GeneratedRouting final : public RoutingModel {
 public:
  GeneratedRouting(RoutingDistribution distribution, double parameter, std::uint64_t seed)
      : distribution_(distribution), parameter_(parameter), seed_(seed) {}
  std::string describe() const override;
  RoutingCounts counts(std::int64_t iteration, const RoutingShape& shape) const override;

 private:
  RoutingDistribution distribution_;
  double parameter_;
  std::uint64_t seed_;
};

/// One MoE layer of one iteration of a trace: `sources` rows of `experts` counts, stored in one
/// block (cells[source * experts + expert]): a trace of many sparse rows costs one allocation
/// per layer, not one per row.
struct RoutingTraceLayer {
  std::int64_t sources = 0;
  std::vector<std::int64_t> cells;
};

/// A recorded trace: counts[iteration][layer], each layer its sources' rows.
struct RoutingTrace {
  std::string origin;  ///< file, for messages
  std::int64_t experts = 0;
  std::vector<std::vector<RoutingTraceLayer>> counts;
  /// Count of tokens `source` sent to `expert` in `layer` of `iteration` (indices in range).
  std::int64_t at(std::size_t iteration, std::size_t layer, std::size_t source,
                  std::size_t expert) const {
    return counts[iteration][layer].cells[source * static_cast<std::size_t>(experts) + expert];
  }
};

class TraceRouting final : public RoutingModel {
 public:
  explicit TraceRouting(RoutingTrace trace) : trace_(std::move(trace)) {}
  std::string describe() const override;
  /// Throws InputError if the trace's expert count differs from the shape's.
  RoutingCounts counts(std::int64_t iteration, const RoutingShape& shape) const override;

 private:
  RoutingTrace trace_;
};

/// Parses a generator spec ("uniform", "zipf:1.2", "dirichlet:0.3", "drift:1.1"); returns null
/// if `text` is not a generator spec (i.e. a file name). Bad parameters: InputError naming flag.
std::unique_ptr<RoutingModel> parse_routing_generator(std::string_view text, std::uint64_t seed,
                                                      std::string_view flag);

}  // namespace moesim
