// nccl-tests' bandwidth metrics, defined once and used by the simulator's `moesim collective`
// table and by the NCCL benchmark in kernels/, so a simulated row and a measured row are computed
// the same way (NVIDIA/nccl-tests, doc/PERFORMANCE.md):
//   algbw = size / time                       (size = nccl-tests "size" column, see comm_op.hpp)
//   busbw = algbw * factor(op, n)             (the factors: collective_traits.hpp, one table)
#pragma once

#include "sim/core/sim_time.hpp"
#include "sim/core/units.hpp"
#include "sim/workload/comm_op.hpp"

namespace moesim::report {

/// busbw / algbw for `kind` over `ranks` ranks.
double bus_bandwidth_factor(CommKind kind, std::size_t ranks);

/// algbw in GB/s (1e9 B/s); zero time gives zero.
double algbw_gbps(Bytes size, SimTime time);
double busbw_gbps(CommKind kind, std::size_t ranks, Bytes size, SimTime time);

}  // namespace moesim::report
