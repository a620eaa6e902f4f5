#include "sim/strategies/overlap_schedule.hpp"

#include <algorithm>

#include "sim/compute/overlap_contention.hpp"
#include "sim/core/errors.hpp"

namespace moesim::strategies {

OverlapSchedule::OverlapSchedule(int comm_queues)
    : comm_last_(static_cast<std::size_t>(std::max(comm_queues, 1)), kNone) {}

SimTime OverlapSchedule::ready_at(const std::vector<Op>& after, std::size_t queue_last) const {
  SimTime at = SimTime::zero();
  for (Op p : after) {
    MOESIM_CHECK(p < ops_.size(), "overlap schedule: dependency {} not added yet", p);
    at = std::max(at, ops_[p].end);
  }
  if (queue_last != kNone) at = std::max(at, ops_[queue_last].end);
  return at;
}

OverlapSchedule::Op OverlapSchedule::comm(int queue, SimTime time, const std::vector<Op>& after) {
  MOESIM_CHECK(queue >= 0 && static_cast<std::size_t>(queue) < comm_last_.size(),
               "overlap schedule: comm queue {} of {}", queue, comm_last_.size());
  std::size_t& last = comm_last_[static_cast<std::size_t>(queue)];
  Entry e;
  e.comm = true;
  e.start = ready_at(after, last);
  e.end = e.start + time;
  // A kernel added earlier was priced without this operation: it must not overlap it.
  MOESIM_CHECK(time == SimTime::zero() || e.start >= latest_kernel_end_,
               "overlap schedule: communication at {} ps overlaps a kernel added before it "
               "(ends {} ps)",
               e.start.ps(), latest_kernel_end_.ps());
  ops_.push_back(e);
  last = ops_.size() - 1;
  span_ = std::max(span_, e.end);
  return last;
}

OverlapSchedule::Op OverlapSchedule::kernel(SimTime alone, SimTime beside_comm,
                                            const std::vector<Op>& after) {
  Entry e;
  e.start = ready_at(after, compute_last_);
  std::vector<compute::BusyInterval> busy;
  for (const Entry& c : ops_) {
    if (c.comm && c.end > e.start) busy.push_back({c.start, c.end});
  }
  e.end = compute::contended_end(e.start, alone, beside_comm, busy);
  e.beside_comm = std::any_of(busy.begin(), busy.end(), [&](const compute::BusyInterval& b) {
    return b.start < e.end && b.end > e.start;
  });
  ops_.push_back(e);
  compute_last_ = ops_.size() - 1;
  latest_kernel_end_ = std::max(latest_kernel_end_, e.end);
  span_ = std::max(span_, e.end);
  if (e.beside_comm) ++beside_count_;
  ++kernel_count_;
  kernel_total_ += e.end - e.start;
  return compute_last_;
}

}  // namespace moesim::strategies
