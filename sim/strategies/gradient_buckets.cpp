#include "sim/strategies/gradient_buckets.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string>

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

std::vector<GradientBucket> assign_gradient_chunks(const std::vector<LayerGradient>& gradients,
                                                   std::int64_t chunk_bytes) {
  MOESIM_CHECK(chunk_bytes > 0, "chunk of {} bytes", chunk_bytes);
  std::vector<GradientBucket> out;
  GradientBucket open;
  for (const LayerGradient& g : gradients) {
    std::int64_t left = g.bytes;
    while (left > 0) {
      const std::int64_t take = std::min(left, chunk_bytes - open.bytes);
      if (open.layers.empty() || open.layers.back() != g.layer) open.layers.push_back(g.layer);
      open.bytes += take;
      left -= take;
      if (open.bytes == chunk_bytes) {
        out.push_back(std::move(open));
        open = GradientBucket{};
      }
    }
  }
  if (!open.layers.empty()) out.push_back(std::move(open));
  return out;
}

GradientSyncOptions read_gradient_sync(StrategyOptions& options, GradientSyncOptions fallback) {
  GradientSyncOptions out = fallback;
  const std::string mode =
      options.get_choice("grad_sync", "overlap|after|lina",
                         fallback.lina ? "lina" : (fallback.overlap ? "overlap" : "after"));
  out.overlap = mode != "after";
  out.lina = mode == "lina";
  constexpr std::int64_t kMaxMiB = 1 << 20;  // 1 TiB: larger is a typo
  const std::int64_t mib = options.get_int(
      "bucket_mb", out.lina && !fallback.lina ? GradientSyncOptions::kLinaChunkMiB
                                              : fallback.bucket_bytes / GradientSyncOptions::kMiB);
  if (mib > kMaxMiB) {
    throw input_error("", "--strategy", "option bucket_mb is too large", fmt::format("{}", mib),
                      fmt::format("<= {}", kMaxMiB));
  }
  out.bucket_bytes = mib * GradientSyncOptions::kMiB;
  return out;
}

}  // namespace moesim::strategies
