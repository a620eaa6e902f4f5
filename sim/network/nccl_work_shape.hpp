// NcclWorkShape: how many channels (one CTA each) and threads per channel NCCL launches a ring
// or tree collective of a given size with, once its argmin has picked the algorithm and
// protocol (NVIDIA/nccl src/enqueue.cc, getAlgoInfo in 2.18 / topoGetAlgoInfo in 2.20, "Ring/Tree
// channel tuning"): starting from the communicator's channels and the protocol's most threads,
// NCCL drops one channel at a time while
//     bytes < channels x threads x threshold(algorithm, protocol)
// and, once down to one channel, halves the threads (while a multiple of 128), so that every
// thread has at least `threshold` bytes to move. Thresholds (src/include/comm.h): LL 8, LL128 8,
// Simple 64 bytes per thread; the ring's LL threshold is x nRanks (src/graph/tuning.cc,
// ncclTopoTuneModel). Most threads (src/include/device.h): LL 512 (NCCL_LL_MAX_NTHREADS), LL128
// 640 (NCCL_LL128_MAX_NTHREADS), Simple 512 (NCCL_SIMPLE_MAX_NTHREADS). NVLS keeps its own
// channel count (nvlsChannels) and is not shaped here.
//
// What the shape changes in moesim: across nodes a ring's or tree's channels leave the node by
// different NICs (network_channels, collectives/flow_plan.hpp), so a collective NCCL runs on
// fewer channels than the group has NICs reaches only that many NICs. Both models take it from
// here: the flow lowering runs min(network_channels, shape channels) channels (ring.cpp,
// tree_all_reduce.cpp) and the argmin charges the same share of the members' NIC ports
// (nccl_cost_model.cpp). Inside one node every channel crosses the same links (NVSwitch) or
// the ring set is kept as searched (ring_search.hpp), so the shape does not change a time there.
#pragma once

#include <cstddef>

#include "sim/network/nccl_tuning.hpp"

namespace moesim::network {

struct NcclWorkShape {
  int channels = 1;
  int threads = 0;  ///< per channel, before NCCL's extra Simple synchronisation warp(s)
};

/// NCCL_LL_MAX_NTHREADS 512, NCCL_LL128_MAX_NTHREADS 640, NCCL_SIMPLE_MAX_NTHREADS 512.
int nccl_max_threads(Protocol p);

/// Bytes per thread below which NCCL takes a channel (then threads) away: LL 8, LL128 8,
/// Simple 64 (NCCL_*_THREAD_THRESHOLD); ring LL x ranks.
double nccl_thread_threshold_bytes(Algorithm a, Protocol p, std::size_t ranks);

/// NCCL's channel and thread choice for a ring or tree collective of `bytes` (NCCL's nBytes:
/// the nccl-tests size) over `ranks` ranks, starting from `comm_channels` (>= 1).
NcclWorkShape nccl_work_shape(double bytes, Algorithm a, Protocol p, int comm_channels,
                              std::size_t ranks);

/// Channels a ring or tree across nodes runs on: `network_channels` (one per NIC the group's
/// members reach) unless NCCL's shape for this size has fewer. The shape's loop only ever stops
/// below its start, so the communicator's own (larger) channel count does not matter here.
int nccl_network_work_channels(int network_channels, double bytes, Algorithm a, Protocol p,
                               std::size_t ranks);

}  // namespace moesim::network
