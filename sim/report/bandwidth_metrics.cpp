#include "sim/report/bandwidth_metrics.hpp"

namespace moesim::report {

double bus_bandwidth_factor(CommKind kind, std::size_t ranks) {
  if (ranks == 0) return 0.0;
  const double n = static_cast<double>(ranks);
  switch (kind) {
    case CommKind::all_reduce:
      return 2.0 * (n - 1.0) / n;
    case CommKind::all_gather:
    case CommKind::reduce_scatter:
    case CommKind::all_to_all:
    case CommKind::all_to_all_v:
      return (n - 1.0) / n;
    case CommKind::broadcast:
    case CommKind::reduce:
    case CommKind::send_recv:
      return 1.0;
  }
  return 1.0;
}

double algbw_gbps(Bytes size, SimTime time) {
  if (time.ps() <= 0) return 0.0;
  return size.as_double() / time.seconds() * 1e-9;
}

double busbw_gbps(CommKind kind, std::size_t ranks, Bytes size, SimTime time) {
  return algbw_gbps(size, time) * bus_bandwidth_factor(kind, ranks);
}

}  // namespace moesim::report
