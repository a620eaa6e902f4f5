#include "sim/report/time_breakdown.hpp"

namespace moesim::report {

TimeBreakdown time_breakdown(const RankSummary& rank, SimTime makespan) {
  // comm_busy is the union of communication; exposed_comm the part of it with no kernel, so the
  // rest of it runs under kernels.
  TimeBreakdown b;
  b.exposed_comm = rank.exposed_comm;
  b.overlapped_comm = rank.comm_busy - rank.exposed_comm;
  b.compute_only = rank.compute_busy - b.overlapped_comm;
  b.idle = makespan - rank.compute_busy - rank.exposed_comm;
  return b;
}

TimeBreakdown mean_time_breakdown(const IterationSummary& summary) {
  if (summary.per_rank.empty()) return {};
  std::int64_t compute = 0, overlapped = 0, exposed = 0, idle = 0;
  for (const RankSummary& r : summary.per_rank) {
    const TimeBreakdown b = time_breakdown(r, summary.makespan);
    compute += b.compute_only.ps();
    overlapped += b.overlapped_comm.ps();
    exposed += b.exposed_comm.ps();
    idle += b.idle.ps();
  }
  const auto n = static_cast<std::int64_t>(summary.per_rank.size());
  return {SimTime::from_ps(compute / n), SimTime::from_ps(overlapped / n),
          SimTime::from_ps(exposed / n), SimTime::from_ps(idle / n)};
}

}  // namespace moesim::report
