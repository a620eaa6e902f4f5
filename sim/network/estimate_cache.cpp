#include "sim/network/estimate_cache.hpp"

#include <cstring>
#include <type_traits>

namespace moesim::network {

namespace {

template <class T>
void append(std::string& out, T value) {
  static_assert(std::is_trivially_copyable_v<T>);
  char raw[sizeof(T)];
  std::memcpy(raw, &value, sizeof(T));
  out.append(raw, sizeof(T));
}

}  // namespace

std::string EstimateCache::key_of(std::span<const CommOp> ops) {
  std::string key;
  std::size_t size = sizeof(std::uint64_t);
  for (const CommOp& op : ops) {
    size += 32 + 4 * op.ranks.size();
    if (op.matrix) size += 8 * op.matrix->size() * op.matrix->size();
  }
  key.reserve(size);
  append(key, static_cast<std::uint64_t>(ops.size()));
  for (const CommOp& op : ops) {
    append(key, static_cast<std::uint8_t>(op.kind));
    append(key, static_cast<std::uint8_t>(op.group));
    append(key, static_cast<std::uint8_t>(op.dtype));
    append(key, op.bytes.count);
    append(key, op.root.value);
    append(key, static_cast<std::uint64_t>(op.ranks.size()));
    for (RankId r : op.ranks) append(key, r.value);
    // Every op carries its own length-prefixed matrix (or a 0 for none), so no two different
    // lists of operations give equal keys.
    const std::size_t n = op.matrix ? op.matrix->size() : 0;
    append(key, static_cast<std::uint64_t>(op.matrix ? n + 1 : 0));
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t j = 0; j < n; ++j) append(key, op.matrix->at(i, j));
    }
  }
  return key;
}

std::optional<SimTime> EstimateCache::find(const std::string& key) {
  const std::lock_guard<std::mutex> lock(mutex_);
  const auto it = known_.find(key);
  if (it == known_.end()) {
    ++misses_;
    return std::nullopt;
  }
  ++hits_;
  return it->second;
}

void EstimateCache::store(std::string key, SimTime t) {
  const std::lock_guard<std::mutex> lock(mutex_);
  known_.emplace(std::move(key), t);
}

std::uint64_t EstimateCache::hits() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return hits_;
}

std::uint64_t EstimateCache::misses() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return misses_;
}

std::size_t EstimateCache::size() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return known_.size();
}

}  // namespace moesim::network
