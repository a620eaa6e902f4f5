#pragma once
// NcclRingLatency: NCCL's ring (and tree) latency per release, the one description both network
// models charge (nccl_cost_model.cpp prices it, collectives/ring.cpp and tree_all_reduce.cpp
// spread it over their stages). NCCL's src/graph/tuning.cc changed the ring term across
// releases (NVIDIA/nccl's tuning.cc read per release; the commits are in nccl_release.hpp):
//   - up to 2.11 (2.7.5, 2.8.3, 2.10.3): inter = all-reduce ? 2 (nodes - 1) : nodes - 1; no net
//       overhead; LL intra x1.8 across nodes (`if (nNodes > 1 && p == LL) intraLat *= 1.8`,
//       every algorithm);
//   - 2.12 - 2.17 (2.12.7, 2.15.1, 2.17.1): the same, except an all-reduce across nodes counts
//       inter = 2 nodes;
//   - 2.18 - 2.22 (2.18.1, 2.18.3, 2.20.3, 2.21.5, 2.22.3): inter = 2 nodes for an all-reduce;
//       intra = max(intra, netOverhead (x3 Simple)) across nodes ("Inter-node rings still have
//       to launch nsteps * net overhead"); no LL x1.8;
//   - 2.23 on (2.23.4, 2.24.3, 2.29.2): as 2.18, with inter = nodes == 1 ? 0 : all-reduce ?
//       2 (nodes - 1) : nodes - 1.
//   latency = baseLat + (steps - inter) * intra + inter * hwLat[NET].
// What NCCL writes is its model, by which it chooses (model_us). moesim charges the same
// formula with one physical bound: a chunk cannot cross more network hops than it takes steps,
// so the charged inter count is min(inter, steps); NCCL's 2 nodes on a one-GPU-per-node ring
// (steps 2 (nodes - 1) < 2 nodes) gives a negative intra count, an artefact that only chooses.
#include <algorithm>
#include <cstddef>

#include "sim/network/nccl_release.hpp"
#include "sim/network/nccl_tuning.hpp"

namespace moesim::network {

struct RingLatencyShape {
  std::size_t steps = 0;  ///< NCCL's nsteps: 2 (n - 1) all-reduce, n - 1 all-gather / RS
  std::size_t nodes = 1;
  bool all_reduce = false;
  LinkClass intra_class = LinkClass::nvlink;  ///< slowest intra-node hop of the ring
  bool amd_host = false;                      ///< Topology::cpu_vendor, getNetOverhead
};

struct NcclRingLatency {
  double base_us = 0;
  double intra_step_us = 0;  ///< per intra-node step
  double inter_step_us = 0;  ///< per network step (hwLat[NET][Ring])
  std::size_t steps = 0;
  std::size_t inter_steps = 0;  ///< NCCL's nInterSteps for the release (may exceed steps)

  /// NCCL's latency, as its tuning.cc writes it (may count negative intra steps).
  double model_us() const {
    const double s = static_cast<double>(steps);
    const double i = static_cast<double>(inter_steps);
    return base_us + (s - i) * intra_step_us + i * inter_step_us;
  }
  /// Network steps a chunk really takes: no more than its steps.
  std::size_t charged_inter_steps() const { return std::min(inter_steps, steps); }
  /// What moesim charges: NCCL's latency with at most `steps` network steps.
  double charged_us() const {
    const auto i = static_cast<double>(charged_inter_steps());
    return base_us + (static_cast<double>(steps) - i) * intra_step_us + i * inter_step_us;
  }
};

/// Network levels a chunk of NCCL's tree all-reduce crosses each way over `nodes` nodes: its
/// binary tree (src/graph/trees.cc ncclGetBtree: root 0 with one child, each level halving) is
/// ceil(log2 nodes) deep. Charged by the argmin and the flow lowering (tree_all_reduce.cpp).
inline std::size_t nccl_tree_levels(std::size_t nodes) {
  std::size_t levels = 0;
  for (std::size_t k = nodes; k > 1; k = (k + 1) / 2) ++levels;
  return levels;
}
/// The levels NCCL's own model counts, log2i(nodes) = floor(log2 nodes) (tuning.cc,
/// src/include/utils.h), which only chooses; it differs off powers of two (3 nodes: 1 vs 2).
inline std::size_t nccl_tree_model_levels(std::size_t nodes) {
  std::size_t levels = 0;
  for (std::size_t k = nodes; k > 1; k /= 2) ++levels;
  return levels;
}

/// Intra-node step latency of `a` for release `r` (tuning.cc intraLat): NCCL up to 2.17
/// multiplies LL's by 1.8 across nodes for every algorithm.
inline double nccl_intra_step_us(const NcclTuning& t, const NcclRelease& r, Algorithm a, Protocol p,
                                 LinkClass intra_class, std::size_t nodes) {
  const double hw = t.hw(intra_class, a, p);
  if (nodes > 1 && p == Protocol::ll && r.ll_intra_latency_x1_8_across_nodes()) {
    return hw * t.pre_2_18_ll_intra_factor;
  }
  return hw;
}

inline NcclRingLatency nccl_ring_latency(const NcclTuning& t, const NcclRelease& r, Protocol p,
                                         const RingLatencyShape& s) {
  NcclRingLatency out;
  out.base_us = t.base(Algorithm::ring, p);
  out.steps = s.steps;
  out.inter_step_us = t.hw(LinkClass::net, Algorithm::ring, p);
  out.intra_step_us = nccl_intra_step_us(t, r, Algorithm::ring, p, s.intra_class, s.nodes);
  if (s.nodes > 1 && r.ring_latency_has_net_overhead()) {
    out.intra_step_us = std::max(out.intra_step_us, t.net_overhead(p, s.amd_host));
  }
  if (s.nodes > 1) {
    if (!s.all_reduce) {
      out.inter_steps = s.nodes - 1;
    } else if (r.ring_all_reduce_counts_2n_inter_steps()) {
      out.inter_steps = 2 * s.nodes;
    } else {
      out.inter_steps = 2 * (s.nodes - 1);
    }
  }
  return out;
}

}  // namespace moesim::network
