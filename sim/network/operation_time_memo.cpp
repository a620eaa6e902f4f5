#include "sim/network/operation_time_memo.hpp"

#include <bit>

namespace moesim::network {

namespace {

// One step of a 64-bit multiplicative mix (splitmix64's finaliser over the running value).
std::uint64_t memo_mix(std::uint64_t h, std::uint64_t v) {
  h ^= v + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
  h ^= h >> 30;
  h *= 0xBF58476D1CE4E5B9ULL;
  h ^= h >> 27;
  return h;
}

}  // namespace

bool OperationTimeMemo::same_operation(const CommOp& a, const CommOp& b) {
  return a.kind == b.kind && a.group == b.group && a.dtype == b.dtype && a.bytes == b.bytes &&
         a.root == b.root && a.matrix == b.matrix && a.relay == b.relay && a.ranks == b.ranks;
}

std::uint64_t OperationTimeMemo::hash_of(const CommOp& op) {
  std::uint64_t h = memo_mix(0, static_cast<std::uint64_t>(op.kind) |
                                    (static_cast<std::uint64_t>(op.group) << 8) |
                                    (static_cast<std::uint64_t>(op.dtype) << 16) |
                                    (static_cast<std::uint64_t>(op.root.value) << 32));
  h = memo_mix(h, static_cast<std::uint64_t>(op.bytes.count));
  // Addresses only pick the bucket; equality decides, so the results never depend on them.
  h = memo_mix(h, std::bit_cast<std::uintptr_t>(op.matrix.get()));
  h = memo_mix(h, std::bit_cast<std::uintptr_t>(op.relay.get()));
  for (RankId r : op.ranks) h = memo_mix(h, r.value);
  return h;
}

std::optional<SimTime> OperationTimeMemo::find(std::uint64_t hash, const CommOp& op) const {
  const auto it = entries_.find(hash);
  if (it == entries_.end()) return std::nullopt;
  for (const Entry& e : it->second) {
    if (same_operation(e.op, op)) return e.time;
  }
  return std::nullopt;
}

}  // namespace moesim::network
