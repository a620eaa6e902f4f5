#include "sim/strategies/pipeline_schedule.hpp"

#include <algorithm>

#include "sim/core/errors.hpp"

namespace moesim::strategies {

std::vector<PipelineItem> pipeline_order(std::int64_t stages, std::int64_t micro_batches,
                                         PipelineSchedule schedule) {
  // Each stage's own sequence.
  std::vector<std::vector<PipelineItem>> seq(static_cast<std::size_t>(stages));
  for (std::int64_t s = 0; s < stages; ++s) {
    auto& q = seq[static_cast<std::size_t>(s)];
    if (schedule == PipelineSchedule::gpipe) {
      for (std::int64_t m = 0; m < micro_batches; ++m) q.push_back({s, m, true});
      for (std::int64_t m = 0; m < micro_batches; ++m) q.push_back({s, m, false});
    } else {
      const std::int64_t warmup = std::min(stages - s - 1, micro_batches);
      for (std::int64_t m = 0; m < warmup; ++m) q.push_back({s, m, true});
      for (std::int64_t i = 0; i < micro_batches - warmup; ++i) {
        q.push_back({s, warmup + i, true});
        q.push_back({s, i, false});
      }
      for (std::int64_t m = micro_batches - warmup; m < micro_batches; ++m) {
        q.push_back({s, m, false});
      }
    }
  }
  // Merge: round-robin over stages, taking each stage's next item once its inputs are emitted.
  const auto idx = [&](std::int64_t s, std::int64_t m) {
    return static_cast<std::size_t>(s * micro_batches + m);
  };
  std::vector<bool> fwd_done(static_cast<std::size_t>(stages * micro_batches), false);
  std::vector<bool> bwd_done(fwd_done.size(), false);
  std::vector<std::size_t> next(static_cast<std::size_t>(stages), 0);
  std::vector<PipelineItem> order;
  const std::size_t total = static_cast<std::size_t>(2 * stages * micro_batches);
  while (order.size() < total) {
    bool progress = false;
    for (std::int64_t s = 0; s < stages; ++s) {
      auto& n = next[static_cast<std::size_t>(s)];
      const auto& q = seq[static_cast<std::size_t>(s)];
      if (n >= q.size()) continue;
      const PipelineItem it = q[n];
      const bool ready = it.forward ? (s == 0 || fwd_done[idx(s - 1, it.micro_batch)])
                                    : (s == stages - 1 || bwd_done[idx(s + 1, it.micro_batch)]);
      if (!ready) continue;
      (it.forward ? fwd_done : bwd_done)[idx(s, it.micro_batch)] = true;
      order.push_back(it);
      ++n;
      progress = true;
    }
    MOESIM_CHECK(progress, "pipeline schedule cannot progress ({} of {} items)", order.size(),
                 total);
  }
  return order;
}

}  // namespace moesim::strategies
