#include "sim/strategies/gradient_buckets.hpp"

#include <fmt/format.h>

#include "sim/core/errors.hpp"

namespace moesim::strategies {

std::vector<GradientBucket> assign_gradient_buckets(const std::vector<LayerGradient>& gradients,
                                                    std::int64_t first_bucket_bytes,
                                                    std::int64_t bucket_bytes) {
  std::vector<GradientBucket> out;
  GradientBucket open;
  for (const LayerGradient& g : gradients) {
    if (g.bytes <= 0) continue;
    open.layers.push_back(g.layer);
    open.bytes += g.bytes;
    const std::int64_t limit = out.empty() ? first_bucket_bytes : bucket_bytes;
    if (open.bytes >= limit) {
      out.push_back(std::move(open));
      open = GradientBucket{};
    }
  }
  if (!open.layers.empty()) out.push_back(std::move(open));
  return out;
}

GradientSyncOptions read_gradient_sync(StrategyOptions& options, GradientSyncOptions fallback) {
  GradientSyncOptions out = fallback;
  out.overlap = options.get_choice("grad_sync", "overlap|after",
                                   fallback.overlap ? "overlap" : "after") == "overlap";
  constexpr std::int64_t kMaxMiB = 1 << 20;  // 1 TiB: larger is a typo
  const std::int64_t mib =
      options.get_int("bucket_mb", fallback.bucket_bytes / GradientSyncOptions::kMiB);
  if (mib > kMaxMiB) {
    throw input_error("", "--strategy", "option bucket_mb is too large", fmt::format("{}", mib),
                      fmt::format("<= {}", kMaxMiB));
  }
  out.bucket_bytes = mib * GradientSyncOptions::kMiB;
  return out;
}

}  // namespace moesim::strategies
