#include "sim/calibration/profile_estimate_memo.hpp"

#include <mutex>

namespace moesim::calibration {

std::optional<KernelEstimate> ProfileEstimateMemo::estimate(const ComputeTask& task) const {
  const auto query = query_of(task);
  if (!query) return std::nullopt;
  {
    const std::shared_lock read(mutex_);
    if (const auto it = known_.find(*query); it != known_.end()) return it->second;
  }
  // Computed outside the lock: two threads may both compute a new query, and both get the same
  // answer; the first to insert keeps it.
  const std::optional<KernelEstimate> computed = profile_->estimate(*query);
  const std::unique_lock write(mutex_);
  return known_.try_emplace(*query, computed).first->second;
}

std::size_t ProfileEstimateMemo::size() const {
  const std::shared_lock read(mutex_);
  return known_.size();
}

}  // namespace moesim::calibration
