// NcclChoiceCorrections: the per-size refinements NCCL's ncclTopoGetAlgoTime applies to its
// model time before taking the argmin over (algorithm, protocol) (NVIDIA/nccl
// src/graph/tuning.cc, NCCL 2.30 at 5067397c; the same tree table since NCCL 2.12 at least):
//   - tree all-reduce: its bandwidth times treeCorrectionFactor[protocol][log2(bytes / 64)],
//     one factor per power of two from 64 B to 256 MiB ("Trees are not perfectly sticking to
//     the model for medium sizes"), down to 0.4 (LL), 0.6 (LL128), 0.5 (Simple) around
//     128 KiB - 2 MiB; 1 from 512 MiB up;
//   - ring/Simple all-reduce across nodes: its latency x1.9 before compute capability 8.0,
//     x1.4 from it ("plateau effect of ring"), once every channel moves at least 64 bytes per
//     rank (bytes / (channels x ranks) >= 64).
// NCCL uses the result only to choose: the time is compared across candidates in
// topoGetAlgoInfo (src/enqueue.cc) and never reaches the kernels, which run at the speed of the
// hardware. So moesim ranks candidates by this corrected time (AlgoTime::model_us) and charges
// the chosen one's uncorrected time (AlgoTime::time_us, the analytical model; the flow model
// runs the lowering). Not modelled: the NVLS-tree use of the same table (compute capability
// >= 10.0 on x86 only), as moesim has no NVLS tree.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "sim/network/gpu_generation.hpp"

namespace moesim::network {

enum class Protocol : std::uint8_t;

struct NcclChoiceCorrections {
  /// treeCorrectionFactor [LL, LL128, Simple] x floor(log2(bytes / 64)), 23 buckets used for
  /// all-reduce (tuning.cc, NCCL 2.30; its 24th entry only serves NVLS tree).
  std::array<std::array<double, 23>, 3> tree_bandwidth_factors{{
      {1.0, 1.0, 1.0, 1.0, .9, .8, .7, .7,  .7,  .7,  .6, .5,
       .4,  .4,  .5,  .6,  .7, .8, .9, 1.0, 1.0, 1.0, 1.0},
      {1.0, 1.0, 1.0, 1.0, 1.0, .9, .8, .8, .8, .7,  .6, .6,
       .6,  .6,  .6,  .6,  .8,  .9, .9, .9, .9, 1.0, 1.0},
      {.9, .9, .9, .9, .9, .9, .9, .8, .7, .6, .6, .5, .5, .5, .5, .6, .7, .8, .7, .7, .8, .9, .9},
  }};
  /// Ring/Simple all-reduce latency factor across nodes (tuning.cc, "plateau effect of ring"):
  /// minCompCap < 80 (Volta, Turing) 1.9, else 1.4.
  double ring_simple_plateau_pre_ampere = 1.9;
  double ring_simple_plateau = 1.4;
  /// The plateau applies once bytes / (channels x ranks) reaches this many bytes.
  double ring_simple_plateau_min_bytes = 64.0;

  /// Factor on the tree all-reduce bandwidth for a `bytes` message (NCCL's log2i of bytes >> 6:
  /// floor, 0 below 128 bytes).
  double tree_bandwidth_factor(Protocol p, double bytes) const {
    const double units = std::floor(bytes / 64.0);
    const int bucket = units < 2.0 ? 0 : static_cast<int>(std::floor(std::log2(units)));
    const auto& row = tree_bandwidth_factors[static_cast<std::size_t>(p)];
    return bucket < static_cast<int>(row.size()) ? row[static_cast<std::size_t>(bucket)] : 1.0;
  }
  /// Factor on the ring/Simple all-reduce latency across nodes.
  double ring_simple_latency_factor(GpuGeneration g, double bytes, double channels,
                                    double ranks) const {
    if (bytes / (channels * ranks) < ring_simple_plateau_min_bytes) return 1.0;
    return g == GpuGeneration::volta ? ring_simple_plateau_pre_ampere : ring_simple_plateau;
  }
};

}  // namespace moesim::network
