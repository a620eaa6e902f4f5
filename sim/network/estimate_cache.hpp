// EstimateCache: the idle-network estimates of one communication model, computed once per
// distinct set of operations and shared by every planner that prices with that model.
//
// Why: planners price each collective step together with every group of its stage
// (estimate_concurrent), and on the flow model each price runs a private copy of the model. A
// sweep's cases (every strategy of a configuration, configurations that move the same bytes)
// ask the same questions thousands of times; the answer is a pure function of the operations
// and the model, so it is kept. A cached answer is the model's own answer for an identical key,
// hence results are identical with and without the cache.
//
// The key is every field of CommOp that a network model reads: kind, dtype, bytes, root, the
// ranks in order and the all-to-all-v matrix's entries (compared in full, not by hash alone).
// CommOp::group is a reporting label (no model in sim/network reads it) but is kept in the key
// all the same, so that a model that ever prices by group stays correct. One cache serves one
// model configuration (topology, model kind, collective parameters): whoever shares it across
// jobs must check that (sim/job/job_runner.hpp: EstimateCacheKey). Thread-safe: a sweep's
// workers share one cache; two workers asking the same new question both compute it (the same
// value) and the first stored stays.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>

#include "sim/core/sim_time.hpp"
#include "sim/workload/comm_op.hpp"

namespace moesim::network {

class EstimateCache {
 public:
  /// `price()` for `ops`, computed on the first call with equal operations and remembered.
  template <class Price>
  SimTime get_or_compute(std::span<const CommOp> ops, Price price) {
    std::string key = key_of(ops);
    if (const std::optional<SimTime> known = find(key)) return *known;
    const SimTime t = price();
    store(std::move(key), t);
    return t;
  }

  std::uint64_t hits() const;
  std::uint64_t misses() const;
  std::size_t size() const;

  /// The bytes that identify `ops` (exposed for tests).
  static std::string key_of(std::span<const CommOp> ops);

 private:
  std::optional<SimTime> find(const std::string& key);
  void store(std::string key, SimTime t);

  mutable std::mutex mutex_;
  std::unordered_map<std::string, SimTime> known_;
  std::uint64_t hits_ = 0;
  std::uint64_t misses_ = 0;
};

}  // namespace moesim::network
