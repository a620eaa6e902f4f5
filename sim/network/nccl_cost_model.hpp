// NcclCostModel: contention-free time of a collective per (algorithm, protocol), NCCL's tuning
// model (nccl_tuning.hpp) with bandwidths taken from the topology's bottlenecks:
//   intra = slowest effective link between consecutive group members inside a node (on a node
//   without PCIe P2P, also its sockets' memory ports shared by the ring's SHM hops); a one-node
//   ring all-reduce / all-gather / reduce-scatter runs over NCCL's ring set instead (rings_bps,
//   the same rings the flow model lowers: six on a DGX-1 hybrid cube-mesh);
//   node network = sum of the effective network ports of the NICs the group's members leave
//   their node by (group_network, flow_plan.hpp: one channel per NIC; a group with one GPU per
//   node reaches one NIC, as NCCL's graph of that communicator does); per-GPU network = node
//   network / GPUs per node (NIC affinity: "Alltoall cannot aggregate the bandwidth of multiple
//   NICs", sjeaugey, nccl-tests#267).
// Times, bytes per algorithm (S = nccl-tests size, n ranks, B = bottleneck, f = protocol factor):
//   ring all-reduce  lat + 2(n-1)/n S / (f B);  all-gather / reduce-scatter  lat + (n-1)/n S / (f
//   B) tree all-reduce  lat + S / (0.46 f B);      NVLS  25 us + (n+1)/n S / (0.85 B_nvlink)
//   broadcast/reduce lat + S / (f B_chain);     send_recv  step + S / B_route
//   all-to-all(-v)   step + max over ranks of max(intra bytes / B_intra, inter bytes / B_gpu_net)
//   hierarchical all-to-all (only when forced: NCCL has none): intra + inter stage, as above.
// LL is also capped at ll_max_gbps (NCCL llMaxBw).
#pragma once

#include <vector>

#include "sim/network/collectives/flow_plan.hpp"

namespace moesim::network {

struct GroupBandwidth {
  double intra_bps = 0;  ///< 0 if no two members share a node
  /// A one-node group's ring set (collectives/ring_search.hpp: NCCL's rings, one channel each)
  /// moving data around the ring, contention-free; = intra_bps when the search keeps one ring,
  /// and for groups across nodes.
  double rings_bps = 0;
  double node_net_bps = 0;  ///< group_network: the members' NICs; 0 inside one node
  /// How many NICs node_net_bps sums (GroupNetwork::nics_per_node); 0 inside one node. A ring
  /// or tree NCCL runs on fewer channels reaches only that many of them (nccl_work_shape.hpp).
  std::size_t network_nics = 0;
  double gpu_net_bps = 0;
  std::size_t n = 0;
  std::size_t nodes = 0;
  std::size_t ppn = 0;
  LinkClass intra_class = LinkClass::nvlink;
  /// NCCL enables LL128 by default only where its graph's paths allow it (NVIDIA/nccl
  /// src/graph/tuning.cc, ncclTopoTuneModel: typeIntra <= PATH_NVB and typeInter <= PATH_PXB):
  /// every hop between consecutive members inside a node over NVLink only (no PCIe, no SHM
  /// through host memory), and every member's way to its NIC through PCIe switches only, never
  /// through a CPU's root complex (PATH_PHB / PATH_SYS). Compute capability (>= 7.0, one
  /// architecture) holds for every GPU moesim knows; NCCL's Hopper relaxation to PATH_PXN does
  /// not arise, as no modelled route passes through a GPU.
  bool ll128_paths = true;
  /// Whether every channel of NCCL's ring graph repeats one GPU order (sameChannels,
  /// src/graph/search.cc): inside one node when the ring search keeps one ring, across nodes
  /// when the members reach one NIC per node (the channels enter each node at the GPU next to
  /// their NIC, channel_entries, so several NICs give several orders). Broadcast and reduce's
  /// modelled latency depends on it (nccl_candidates).
  bool same_channels = true;
};
GroupBandwidth group_bandwidth(const Topology& topo, const GroupLayout& layout);

struct AlgoTime {
  Algorithm algorithm = Algorithm::ring;
  Protocol protocol = Protocol::simple;
  /// What the collective takes (the analytical model charges it).
  double time_us = 0;
  /// What NCCL's model says it takes, with the per-size factors it only chooses by
  /// (NcclChoiceCorrections): candidates are ranked by this; = time_us where none applies.
  double model_us = 0;
};

/// All-to-all(-v) start-up beyond NCCL's latency table: the CPU time of posting its network
/// p2p operations (nccl_tuning.hpp, p2p_posts_per_peer), us. Peers of the busiest rank that sit
/// on other nodes (with `hierarchical`, one per other node), times the GPUs sharing a NIC.
/// 0 inside one node (P2P and SHM transfers are driven by the GPU, not a proxy).
double exchange_posting_us(const Topology& topo, const CommOp& op, const NcclTuning& t,
                           bool hierarchical);

/// Start-up every collective pays beyond NCCL's latency table, the same in both models and for
/// every algorithm: NcclTuning::startup_us, plus the group launch when one host thread drives
/// several of the node's GPUs (CollectiveConfig::gpus_per_thread): (g - 1) x
/// Topology::group_launch_us, g capped at the GPUs of the group a node holds.
double collective_startup_us(const Topology& topo, const CommOp& op, const CollectiveConfig& cfg);

/// Every (algorithm, protocol) NCCL would consider for `op` (restricted to `forced` unless
/// automatic; `hierarchical` only when forced), with its time, sorted by NCCL's model time
/// (AlgoTime::model_us); the first is NCCL's argmin.
std::vector<AlgoTime> nccl_candidates(const Topology& topo, const CommOp& op,
                                      const CollectiveConfig& cfg);
AlgoTime nccl_best(const Topology& topo, const CommOp& op, const CollectiveConfig& cfg);

/// Lowers `op` with the algorithm and protocol NCCL would pick (or the forced one).
FlowPlan lower_collective(const Topology& topo, const CommOp& op, const CollectiveConfig& cfg);

}  // namespace moesim::network
