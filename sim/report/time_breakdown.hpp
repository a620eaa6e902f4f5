// Where an iteration's time goes on a rank, as four parts that add up to the makespan: compute
// alone, compute overlapped with communication, communication alone (exposed) and neither
// (idle, which includes host delays). The parts the HTML report stacks per strategy.
#pragma once

#include "sim/core/sim_time.hpp"
#include "sim/report/iteration_summary.hpp"

namespace moesim::report {

struct TimeBreakdown {
  SimTime compute_only;     ///< kernels run, no communication does
  SimTime overlapped_comm;  ///< kernels and communication both run: communication hidden
  SimTime exposed_comm;     ///< communication runs, no kernel does
  SimTime idle;             ///< neither (waiting on a peer, host delays, the tail after the end)

  SimTime total() const { return compute_only + overlapped_comm + exposed_comm + idle; }
};

/// One rank's parts over [0, makespan).
TimeBreakdown time_breakdown(const RankSummary& rank, SimTime makespan);

/// The mean of the ranks' parts (each rank measured against the iteration's makespan, so every
/// part is a mean over ranks and the four add up to the makespan).
TimeBreakdown mean_time_breakdown(const IterationSummary& summary);

}  // namespace moesim::report
