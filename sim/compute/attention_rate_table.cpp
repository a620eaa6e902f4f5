#include "sim/compute/attention_rate_table.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "sim/workload/model_spec.hpp"

namespace moesim::compute {
namespace {

/// The FlashAttention convention counts the backward as 2.5 forward passes of work (five S x S
/// products against two); the catalogue counts it as two.
constexpr double kConventionBackwardWork = 2.5;
constexpr double kCatalogueBackwardWork = 2.0;

double log2_of(std::int64_t v) { return std::log2(static_cast<double>(v)); }

/// Linear interpolation of y over log2(x) on ascending xs, clamped at the ends.
double interpolate_log2(const std::vector<std::int64_t>& xs, const std::vector<double>& ys,
                        std::int64_t x) {
  if (x <= xs.front()) return ys.front();
  if (x >= xs.back()) return ys.back();
  const auto hi = static_cast<std::size_t>(std::upper_bound(xs.begin(), xs.end(), x) - xs.begin());
  const std::size_t lo = hi - 1;
  const double t = (log2_of(x) - log2_of(xs[lo])) / (log2_of(xs[hi]) - log2_of(xs[lo]));
  return ys[lo] + t * (ys[hi] - ys[lo]);
}

std::string series_label(const AttentionRateSeries& s) {
  return fmt::format("{} head_dim {}{}", to_string(s.pass), s.head_dim,
                     s.causal ? " causal" : " non-causal");
}

}  // namespace

std::string_view to_string(AttentionPass pass) {
  return pass == AttentionPass::forward ? "forward" : "backward";
}

std::optional<AttentionPass> parse_attention_pass(std::string_view name) {
  if (name == "forward") return AttentionPass::forward;
  if (name == "backward") return AttentionPass::backward;
  return std::nullopt;
}

AttentionRateTable::AttentionRateTable(std::string name, std::vector<DType> dtypes,
                                       std::vector<AttentionRateSeries> series,
                                       bool skips_masked_tiles, std::int64_t tile)
    : name_(std::move(name)),
      dtypes_(std::move(dtypes)),
      series_(std::move(series)),
      skips_masked_tiles_(skips_masked_tiles),
      tile_(tile) {
  if (tile_ <= 0) throw std::invalid_argument(fmt::format("tile {} is not positive", tile_));
  if (dtypes_.empty()) throw std::invalid_argument("no dtype");
  if (series_.empty()) throw std::invalid_argument("no series");
  for (std::size_t i = 0; i < series_.size(); ++i) {
    const AttentionRateSeries& s = series_[i];
    const std::string label = series_label(s);
    if (s.head_dim <= 0) {
      throw std::invalid_argument(fmt::format("{}: head_dim is not positive", label));
    }
    if (s.seq.empty() || s.seq.size() != s.tflops.size()) {
      throw std::invalid_argument(
          fmt::format("{}: {} sequence lengths against {} rates (expected as many, at least one)",
                      label, s.seq.size(), s.tflops.size()));
    }
    for (std::size_t j = 0; j < s.seq.size(); ++j) {
      if (s.seq[j] <= 0 || (j > 0 && s.seq[j] <= s.seq[j - 1])) {
        throw std::invalid_argument(
            fmt::format("{}: sequence lengths must be positive and ascending (got {} at {})", label,
                        s.seq[j], j));
      }
      if (!(s.tflops[j] > 0) || !std::isfinite(s.tflops[j])) {
        throw std::invalid_argument(fmt::format("{}: rate {} at sequence {} is not positive", label,
                                                s.tflops[j], s.seq[j]));
      }
    }
    for (std::size_t j = 0; j < i; ++j) {
      const AttentionRateSeries& o = series_[j];
      if (o.pass == s.pass && o.head_dim == s.head_dim && o.causal == s.causal) {
        throw std::invalid_argument(fmt::format("{}: listed twice", label));
      }
    }
    if (s.pass == AttentionPass::forward && !s.causal) head_dims_.push_back(s.head_dim);
  }
  std::sort(head_dims_.begin(), head_dims_.end());
  for (const AttentionRateSeries& s : series_) {
    if (!std::binary_search(head_dims_.begin(), head_dims_.end(), s.head_dim)) {
      throw std::invalid_argument(
          fmt::format("{}: no forward non-causal series at head_dim {} (every head dim needs one)",
                      series_label(s), s.head_dim));
    }
  }
}

bool AttentionRateTable::covers(DType dtype) const {
  return std::find(dtypes_.begin(), dtypes_.end(), dtype) != dtypes_.end();
}

std::optional<double> AttentionRateTable::published_at(AttentionPass pass, std::int64_t head_dim,
                                                       bool causal, std::int64_t seq) const {
  for (const AttentionRateSeries& s : series_) {
    if (s.pass == pass && s.head_dim == head_dim && s.causal == causal) {
      return interpolate_log2(s.seq, s.tflops, seq);
    }
  }
  return std::nullopt;
}

double AttentionRateTable::catalogue_at(AttentionPass pass, std::int64_t head_dim, bool causal,
                                        std::int64_t seq) const {
  // Every head dim has a forward non-causal curve (constructor): the fallback of a pass the
  // source does not give, and the denominator of what the mask costs.
  const double forward_open = *published_at(AttentionPass::forward, head_dim, false, seq);
  const double open = published_at(pass, head_dim, false, seq).value_or(forward_open);
  double tflops = open;
  if (causal) {
    if (const auto published = published_at(pass, head_dim, true, seq)) {
      tflops = *published;
    } else if (const auto forward_causal =
                   published_at(AttentionPass::forward, head_dim, true, seq)) {
      // The derived causal curve: the non-causal one scaled by what the mask costs the forward.
      tflops = open * *forward_causal / forward_open;
    }
  }
  double rate = tflops * 1e12;
  if (causal) {
    // The convention's work is S^2 / 2 pairs; a fused kernel computes (and the catalogue counts)
    // whole diagonal tiles, an unfused one every pair.
    const double s = static_cast<double>(seq);
    const double computed =
        skips_masked_tiles_ ? static_cast<double>(causal_tile_pairs(seq, 0, tile_)) : s * s;
    rate *= computed / (s * s / 2.0);
  }
  if (pass == AttentionPass::backward) rate *= kCatalogueBackwardWork / kConventionBackwardWork;
  return rate;
}

double AttentionRateTable::catalogue_flops_per_s(AttentionPass pass, std::int64_t head_dim,
                                                 bool causal, std::int64_t seq) const {
  if (head_dim <= head_dims_.front()) return catalogue_at(pass, head_dims_.front(), causal, seq);
  if (head_dim >= head_dims_.back()) return catalogue_at(pass, head_dims_.back(), causal, seq);
  const auto hi = static_cast<std::size_t>(
      std::upper_bound(head_dims_.begin(), head_dims_.end(), head_dim) - head_dims_.begin());
  const std::int64_t d_lo = head_dims_[hi - 1];
  const std::int64_t d_hi = head_dims_[hi];
  const double lo_rate = catalogue_at(pass, d_lo, causal, seq);
  if (d_lo == head_dim) return lo_rate;
  const double t = (log2_of(head_dim) - log2_of(d_lo)) / (log2_of(d_hi) - log2_of(d_lo));
  return lo_rate + t * (catalogue_at(pass, d_hi, causal, seq) - lo_rate);
}

}  // namespace moesim::compute
