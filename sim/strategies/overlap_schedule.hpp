// OverlapSchedule: a planner's list schedule of compute and communication queues that knows
// which kernels start while communication runs on their GPU, and prices those as the executor
// charges them (CostModels::duration_beside_comm: overlap contention), the others alone.
//
// Operations are added in the order the strategy emits them. Each starts when its dependencies
// and the previous operation of its queue have ended (a CUDA stream: in issue order), as in the
// simulated executor. A kernel is beside communication when a communication operation has
// started and not yet ended at the kernel's start, with the executor's order at equal instants:
//  - an operation that ends at t no longer runs for a kernel that starts at t (the executor
//    retires a finished operation before it releases what waits for it);
//  - an operation that starts at t runs beside a kernel that starts at t only when the end of a
//    kernel released it: the executor releases a finished task's dependents before its stream
//    successor, so the collective behind the previous kernel starts ahead of the next kernel,
//    while the next collective of a comm queue starts after the kernel its predecessor fed.
// One rank is modelled (the planners price the slowest or the first rank of a stage).
//
// Requirement on the order of addition: an operation's dependencies come before it, and no
// communication operation starts before a kernel added ahead of it (true of the chunked
// pipelines: what is added later waits, directly or through a queue, for the kernels before it).
#pragma once

#include <cstddef>
#include <utility>
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
  /// A kernel on the compute queue, after `after`: `alone` when no communication runs at its
  /// start, else `beside_comm`.
  Op kernel(SimTime alone, SimTime beside_comm, const std::vector<Op>& after = {});

  SimTime start(Op op) const { return ops_[op].start; }
  SimTime end(Op op) const { return ops_[op].end; }
  /// Whether kernel `op` started beside communication (and was priced so).
  bool beside_comm(Op op) const { return ops_[op].beside_comm; }
  /// End of the last operation.
  SimTime span() const { return span_; }
  /// Kernels that started beside communication, and all kernels.
  int kernels_beside_comm() const { return beside_count_; }
  int kernel_count() const { return kernel_count_; }
  /// The kernels' priced times, summed.
  SimTime kernel_total() const { return kernel_total_; }

 private:
  struct Entry {
    bool comm = false;
    SimTime start = SimTime::zero();
    SimTime end = SimTime::zero();
    bool released_by_kernel = false;  ///< comm: every predecessor ending at its start is a kernel
    bool beside_comm = false;         ///< kernel: priced with contention
  };
  /// When `op` may start after `after` and its queue's last operation, and whether only kernels
  /// end at that instant among them.
  std::pair<SimTime, bool> ready_at(const std::vector<Op>& after, std::size_t queue_last) const;

  static constexpr std::size_t kNone = ~std::size_t{0};
  std::vector<Entry> ops_;
  std::vector<std::size_t> comm_last_;  ///< per comm queue, last operation (kNone: none)
  std::size_t compute_last_ = kNone;
  SimTime span_ = SimTime::zero();
  int beside_count_ = 0;
  int kernel_count_ = 0;
  SimTime kernel_total_ = SimTime::zero();
};

}  // namespace moesim::strategies
