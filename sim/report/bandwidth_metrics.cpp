#include "sim/report/bandwidth_metrics.hpp"

#include "sim/workload/collective_traits.hpp"

namespace moesim::report {

double bus_bandwidth_factor(CommKind kind, std::size_t ranks) {
  return traits_of(kind).bus_factor(ranks);
}

double algbw_gbps(Bytes size, SimTime time) {
  if (time.ps() <= 0) return 0.0;
  return size.as_double() / time.seconds() * 1e-9;
}

double busbw_gbps(CommKind kind, std::size_t ranks, Bytes size, SimTime time) {
  return algbw_gbps(size, time) * bus_bandwidth_factor(kind, ranks);
}

}  // namespace moesim::report
