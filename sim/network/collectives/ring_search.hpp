// RingSet: the rings NCCL's ring search finds over the GPUs of one node, one channel per ring.
//
// Reconstruction of NCCL's intra-node ring search (NVIDIA/nccl src/graph/search.cc,
// ncclTopoCompute / ncclTopoSearchRec, NCCL 2.7-2.30): NCCL looks for as many rings as it can
// (up to MAXCHANNELS/2 = 16, init.cc `ringGraph.maxChannels`) at one per-ring speed, every ring
// consuming that speed on each directed link it crosses (followPath), and keeps the set with the
// most total bandwidth (nChannels x speed, ncclTopoCompareGraphs), over NVLink-only paths first
// (typeIntra = PATH_NVL). One channel then runs per ring and the buffer is split evenly over the
// channels.
// On a DGX-1 hybrid cube-mesh (6 NVLink2 per V100, four pairs doubled) that is six rings, one
// per NVLink of every GPU, where a single ring gets one doubled pair (a third of the links).
// Differences from NCCL, on purpose: where NVLink forms no ring through all members (PCIe and
// SHM nodes, NVLink pairs only, DGX-1 subsets such as GPUs 0-4) NCCL widens the path type and
// searches again; moesim keeps the layout's single ring there (on PCIe-only nodes every ring
// needs the same GPU ports, so more rings move no more; mixed NVLink + PCIe ring sets are not
// modelled). The speeds tried are the node's link capacities divided by
// 1..16 rather than NCCL's fixed speedArray (moesim's capacities are effective bytes/s, not
// NCCL's per-arch constants); ties go to fewer rings (the same bandwidth with fewer flows), and
// the depth-first search has a fixed step budget like NCCL's NCCL_SEARCH_TIMEOUT.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

#include "sim/network/collectives/flow_plan.hpp"
#include "sim/network/topology.hpp"

namespace moesim::network {

struct RingSet {
  /// One order of the members (global ranks) per ring; every ring visits every member once.
  std::vector<std::vector<std::uint32_t>> rings;
  /// What the set moves around the ring with its links shared by the rings (contention-free):
  /// rings x the slowest ring's rate, each ring's rate = min over its directed links of
  /// capacity / rings crossing that link. bytes/s.
  double bytes_per_s = 0.0;
};

/// Ring sets found on one topology, by member list (Topology::ring_set_memo): the search is a
/// pure function of the finalized topology, and a simulation asks it once per collective.
struct RingSetMemo {
  std::mutex mutex;
  std::map<std::vector<std::uint32_t>, RingSet> sets;
};

/// Most rings NCCL searches for (MAXCHANNELS / 2, src/init.cc).
inline constexpr std::size_t kMaxSearchRings = 16;

/// The ring set over `members` (global ranks of one node, 3..16 of them) that NCCL's search
/// would use; a single ring (the members in the given order) when no set of two or more rings
/// moves more than one ring does, e.g. on NVSwitch or PCIe-only nodes where every ring needs the
/// same GPU ports.
RingSet search_rings(const Topology& topo, const std::vector<std::uint32_t>& members);

/// The ring set of a group inside one node (layout.nodes_spanned() == 1), searched over its
/// members in the layout's order (so the single-ring answer is the layout's ring); the flow
/// model's ring lowering and the analytical model's ring bandwidth both take it from here.
/// Remembered in the topology's memo (thread-safe).
RingSet node_ring_set(const Topology& topo, const GroupLayout& layout);

/// bytes_per_s of the given rings over `topo` (RingSet::bytes_per_s).
double ring_set_bandwidth(const Topology& topo,
                          const std::vector<std::vector<std::uint32_t>>& rings);

}  // namespace moesim::network
