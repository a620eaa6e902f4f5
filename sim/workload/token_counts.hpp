// TokenCounts: an immutable, shared per-expert token-count vector. A permute or unpermute task
// carries the counts its rank's routing moves (one entry per expert, 256 for DeepSeek-V3), and the
// same counts recur in every micro-batch, in both passes and in both kernels of a layer; sharing
// one copy keeps a 2,048-GPU graph from holding millions of identical 2 KB vectors.
// TaskGraph::add_compute interns the counts it is given, so equal counts share one vector.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

namespace moesim {

class TokenCounts {
 public:
  TokenCounts() = default;
  /// Implicit, so that `op.tokens_per_expert = counts;` reads like the vector it replaces.
  TokenCounts(std::vector<std::int64_t> counts)  // NOLINT(google-explicit-constructor)
      : counts_(counts.empty()
                    ? nullptr
                    : std::make_shared<const std::vector<std::int64_t>>(std::move(counts))) {}

  const std::vector<std::int64_t>& values() const { return counts_ ? *counts_ : empty_values(); }
  std::span<const std::int64_t> span() const { return values(); }
  std::size_t size() const { return values().size(); }
  bool empty() const { return size() == 0; }
  std::int64_t operator[](std::size_t i) const { return values()[i]; }
  auto begin() const { return values().begin(); }
  auto end() const { return values().end(); }
  /// Whether both refer to one stored vector (interned counts compare by pointer first).
  bool shares_storage_with(const TokenCounts& other) const { return counts_ == other.counts_; }

  bool operator==(const TokenCounts& other) const {
    return counts_ == other.counts_ || values() == other.values();
  }

 private:
  static const std::vector<std::int64_t>& empty_values() {
    static const std::vector<std::int64_t> kEmpty;
    return kEmpty;
  }
  std::shared_ptr<const std::vector<std::int64_t>> counts_;
};

}  // namespace moesim
