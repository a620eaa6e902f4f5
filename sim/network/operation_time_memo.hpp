// OperationTimeMemo: the time of every distinct operation an analytical run starts, computed
// once (AnalyticalNetworkModel::start).
//
// Why: an iteration starts the same operation many times. DeepSeek-V3 on 2,048 GPUs (README,
// dualpipe) starts 141,825 operations; a layer's all-to-all-v of one EP group repeats for each
// of its 32 micro-batches, a stage boundary's send/recv for each micro-batch. Pricing an
// all-to-all with PXN looks up the proxy of every cross-node pair (nccl_cost_model.cpp,
// exchange_us: three routes per pair, about 10,000 for 64 ranks on 8 nodes), which since PXN
// entered the analytical model was over half of that run's CPU time (10 s -> 20-27 s).
// The analytical time is a pure function of the operation (the model keeps no state between
// operations), so a remembered time is the one computing it again would give: results are
// identical with and without the memo.
//
// Two operations are the same when every field of CommOp a model reads is equal (as for
// EstimateCache), with the all-to-all-v matrix and the DeepEP relay compared by identity: the
// strategies share one matrix among the operations of a layer (strategies/token_plan.hpp), and
// an entry keeps its own reference, so an address it remembers is never reused for other
// contents. Equal matrices at different addresses are only priced twice; comparing 4,096
// entries per start would cost a fair share of what the memo saves. CommOp::group is kept in
// the key, as EstimateCache does, although no model reads it. Not thread-safe: one per model.
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "sim/core/sim_time.hpp"
#include "sim/workload/comm_op.hpp"

namespace moesim::network {

class OperationTimeMemo {
 public:
  /// `price()` for `op`, computed on the first start of an equal operation and remembered.
  template <class Price>
  SimTime get_or_compute(const CommOp& op, Price price) {
    const std::uint64_t hash = hash_of(op);
    if (const std::optional<SimTime> known = find(hash, op)) return *known;
    const SimTime t = price();
    entries_[hash].push_back(Entry{op, t});
    ++size_;
    return t;
  }

  /// Distinct operations remembered.
  std::size_t size() const { return size_; }

  /// Whether the memo treats a and b as the same operation (exposed for tests).
  static bool same_operation(const CommOp& a, const CommOp& b);

 private:
  struct Entry {
    CommOp op;  ///< a copy: holds the matrix and relay its key names
    SimTime time;
  };
  static std::uint64_t hash_of(const CommOp& op);
  std::optional<SimTime> find(std::uint64_t hash, const CommOp& op) const;

  std::unordered_map<std::uint64_t, std::vector<Entry>> entries_;  ///< by hash_of
  std::size_t size_ = 0;
};

}  // namespace moesim::network
