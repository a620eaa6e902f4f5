// OverlapSchedule: a planner's list schedule of compute and communication queues that prices each
// kernel as the executor charges it: at its alone rate while no communication of the schedule
// runs, at its beside-communication rate (CostModels::duration_beside_comm: overlap contention)
// while one does, the work left rescaled at each boundary (compute::contended_end, the executor's
// own rule: compute/overlap_contention.hpp).
//
// Operations are added in the order the strategy emits them. Each starts when its dependencies
// and the previous operation of its queue have ended (a CUDA stream: in issue order), as in the
// simulated executor. Communication runs over [start, end): one that ends when a kernel starts,
// or starts when it ends, does not touch it (at one instant the executor re-rates with nothing
// elapsed, whatever order the events fire in).
// One rank is modelled (the planners price the slowest or the first rank of a stage).
//
// Requirement on the order of addition: an operation's dependencies come before it, and no
// communication operation starts before a kernel added ahead of it ends (true of the chunked
// pipelines: what is added later waits, directly or through a queue, for the kernels before it);
// a kernel is priced against the communication added before it.
#pragma once

#include <cstddef>
#include <vector>

#include "sim/core/sim_time.hpp"

namespace moesim::strategies {

class OverlapSchedule {
 public:
  /// Index of an added operation, for dependencies.
  using Op = std::size_t;

  /// `queues` communication queues (streams) numbered 0..queues-1; one compute queue.
  explicit OverlapSchedule(int comm_queues = 1);

  /// A communication operation of `time` on comm queue `queue`, after `after`.
  Op comm(int queue, SimTime time, const std::vector<Op>& after = {});
  /// A kernel on the compute queue, after `after`, taking `alone` with no communication beside it
  /// and `beside_comm` with communication beside it all along.
  Op kernel(SimTime alone, SimTime beside_comm, const std::vector<Op>& after = {});

  SimTime start(Op op) const { return ops_[op].start; }
  SimTime end(Op op) const { return ops_[op].end; }
  /// Whether kernel `op` overlapped communication for some of its time (and paid for it).
  bool beside_comm(Op op) const { return ops_[op].beside_comm; }
  /// End of the last operation.
  SimTime span() const { return span_; }
  /// Kernels that overlapped communication, and all kernels.
  int kernels_beside_comm() const { return beside_count_; }
  int kernel_count() const { return kernel_count_; }
  /// The kernels' priced times, summed.
  SimTime kernel_total() const { return kernel_total_; }

 private:
  struct Entry {
    bool comm = false;
    SimTime start = SimTime::zero();
    SimTime end = SimTime::zero();
    bool beside_comm = false;  ///< kernel: overlapped communication
  };
  /// When `op` may start after `after` and its queue's last operation.
  SimTime ready_at(const std::vector<Op>& after, std::size_t queue_last) const;

  static constexpr std::size_t kNone = ~std::size_t{0};
  std::vector<Entry> ops_;
  std::vector<std::size_t> comm_last_;  ///< per comm queue, last operation (kNone: none)
  std::size_t compute_last_ = kNone;
  SimTime latest_kernel_end_ = SimTime::zero();
  SimTime span_ = SimTime::zero();
  int beside_count_ = 0;
  int kernel_count_ = 0;
  SimTime kernel_total_ = SimTime::zero();
};

}  // namespace moesim::strategies
