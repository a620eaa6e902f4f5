#include "sim/strategies/overlap_schedule.hpp"

#include <algorithm>

#include "sim/core/errors.hpp"

namespace moesim::strategies {

OverlapSchedule::OverlapSchedule(int comm_queues)
    : comm_last_(static_cast<std::size_t>(std::max(comm_queues, 1)), kNone) {}

std::pair<SimTime, bool> OverlapSchedule::ready_at(const std::vector<Op>& after,
                                                   std::size_t queue_last) const {
  SimTime at = SimTime::zero();
  bool only_kernels = true;
  const auto consider = [&](std::size_t p) {
    MOESIM_CHECK(p < ops_.size(), "overlap schedule: dependency {} not added yet", p);
    const Entry& e = ops_[p];
    if (e.end > at) {
      at = e.end;
      only_kernels = !e.comm;
    } else if (e.end == at) {
      only_kernels = only_kernels && !e.comm;
    }
  };
  for (Op p : after) consider(p);
  if (queue_last != kNone) consider(queue_last);
  // Nothing before it: it starts at 0 with the iteration, released by no kernel.
  if (at == SimTime::zero() && after.empty() && queue_last == kNone) only_kernels = false;
  return {at, only_kernels};
}

OverlapSchedule::Op OverlapSchedule::comm(int queue, SimTime time, const std::vector<Op>& after) {
  MOESIM_CHECK(queue >= 0 && static_cast<std::size_t>(queue) < comm_last_.size(),
               "overlap schedule: comm queue {} of {}", queue, comm_last_.size());
  std::size_t& last = comm_last_[static_cast<std::size_t>(queue)];
  const auto [at, by_kernel] = ready_at(after, last);
  Entry e;
  e.comm = true;
  e.start = at;
  e.end = at + time;
  e.released_by_kernel = by_kernel;
  ops_.push_back(e);
  last = ops_.size() - 1;
  span_ = std::max(span_, e.end);
  return last;
}

OverlapSchedule::Op OverlapSchedule::kernel(SimTime alone, SimTime beside_comm,
                                            const std::vector<Op>& after) {
  const SimTime at = ready_at(after, compute_last_).first;
  const bool beside = std::any_of(ops_.begin(), ops_.end(), [&](const Entry& c) {
    if (!c.comm || c.end <= at) return false;
    return c.start < at || (c.start == at && c.released_by_kernel);
  });
  Entry e;
  e.start = at;
  e.end = at + (beside ? beside_comm : alone);
  e.beside_comm = beside;
  ops_.push_back(e);
  compute_last_ = ops_.size() - 1;
  span_ = std::max(span_, e.end);
  if (beside) ++beside_count_;
  ++kernel_count_;
  kernel_total_ += e.end - e.start;
  return compute_last_;
}

}  // namespace moesim::strategies
