// AttentionRateTable: measured throughput of one fused-attention kernel family on one GPU
// generation (topologies/gpus/attention/<name>.json), the attention term of the roofline where a
// GPU file names one (kernel_model.attention_rates). Elsewhere the roofline keeps its prior
// (RooflineParams::attention_efficiency).
//
// Each series is one published curve: a pass (forward, backward), a head dim, causal or not, and
// the rate at each sequence length, in the publisher's FLOP convention (flash-attention's
// benchmark: forward 4 S^2 D H per sequence, halved under the causal mask; backward 2.5 x the
// forward). The table converts each point to the rate at which the kernel does the catalogue's
// work (sim/strategies/layer_ops.cpp: forward 4 x queries x keys-per-query x width, backward 2 x
// that, every key of every computed tile):
//   forward, non-causal:  the published rate;
//   forward, causal:      a kernel that skips the masked tiles (flash-style, fused):
//                         x causal_tile_pairs(S, 0, T) / (S^2 / 2) (the catalogue counts the
//                         diagonal tiles whole, the convention half of them); one that computes
//                         every tile and masks (unfused, e.g. PyTorch's matmul-softmax-matmul):
//                         x 2 (the catalogue counts all S^2 pairs);
//   backward:             x 2 / 2.5, and the causal factor likewise.
// A pass the source does not give at a head dim falls back to the forward non-causal curve there.
// A causal backward the source does not give is derived [R]: the non-causal backward at the same
// (S, D) times the forward's causal / non-causal ratio there (the mask costs the backward what it
// costs the forward: the same diagonal tiles and the same shorter rows).
// Lookup: linear in log2(S) along each head dim's curve, then linear in log2(D) between the two
// curves around D; clamped at the measured ends (no extrapolation: below the shortest sequence or
// beyond the largest head dim the nearest measured rate holds) [R].
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sim/workload/dtype.hpp"

namespace moesim::compute {

enum class AttentionPass : std::uint8_t { forward, backward };

/// One published curve: the rate at each sequence length (ascending), TFLOP/s in the source's
/// convention.
struct AttentionRateSeries {
  AttentionPass pass = AttentionPass::forward;
  std::int64_t head_dim = 0;
  bool causal = false;
  std::vector<std::int64_t> seq;
  std::vector<double> tflops;
};

class AttentionRateTable {
 public:
  /// Builds the table from published series (validated: head dims and sequence lengths > 0,
  /// sequences strictly ascending, rates > 0, at most one series per (pass, head dim, causal),
  /// and a forward non-causal series for every head dim). `skips_masked_tiles`: the kernel
  /// computes only the tiles the causal mask leaves (fused) or every tile (unfused). `tile`: the
  /// kernel's square tile (the causal conversion's diagonal). Throws std::invalid_argument
  /// naming the series.
  AttentionRateTable(std::string name, std::vector<DType> dtypes,
                     std::vector<AttentionRateSeries> series, bool skips_masked_tiles,
                     std::int64_t tile);

  /// FLOP/s at which the kernel does the catalogue's work for one pass over sequences of `seq`
  /// tokens at head dim `head_dim`, causal (tiles above the diagonal skipped) or not.
  double catalogue_flops_per_s(AttentionPass pass, std::int64_t head_dim, bool causal,
                               std::int64_t seq) const;
  /// Whether the table measures kernels of `dtype`.
  bool covers(DType dtype) const;

  const std::string& name() const { return name_; }
  bool skips_masked_tiles() const { return skips_masked_tiles_; }
  const std::vector<DType>& dtypes() const { return dtypes_; }
  const std::vector<AttentionRateSeries>& series() const { return series_; }

 private:
  /// The source's rate (TFLOP/s, its convention) on one head dim's curve, at `seq`.
  std::optional<double> published_at(AttentionPass pass, std::int64_t head_dim, bool causal,
                                     std::int64_t seq) const;
  /// published_at, or the derived causal backward; in the catalogue's convention, FLOP/s.
  double catalogue_at(AttentionPass pass, std::int64_t head_dim, bool causal,
                      std::int64_t seq) const;

  std::string name_;
  std::vector<DType> dtypes_;
  std::vector<AttentionRateSeries> series_;
  std::vector<std::int64_t> head_dims_;  ///< ascending, each with a forward non-causal series
  bool skips_masked_tiles_;
  std::int64_t tile_;
};

std::string_view to_string(AttentionPass pass);
std::optional<AttentionPass> parse_attention_pass(std::string_view name);

}  // namespace moesim::compute
