#include "sim/network/nccl_cost_model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sim/core/errors.hpp"
#include "sim/network/collectives/deepep_nvlink_rate.hpp"
#include "sim/network/collectives/hybrid_ep_pipeline.hpp"
#include "sim/network/collectives/pxn_relays.hpp"
#include "sim/network/collectives/ring_search.hpp"
#include "sim/network/nccl_ring_latency.hpp"
#include "sim/network/nccl_work_shape.hpp"
#include "sim/workload/collective_traits.hpp"

namespace moesim::network {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double network_of_node(const Topology& topo, int node) {
  return topo.node_network_capacity(node).bytes_per_s;  // precomputed: O(1), not O(links)
}

using Choice = CollectiveConfig::Choice;

// What the configured NCCL release could run (nccl_release.hpp): NCCL 2.4 has no LL128, prices
// no tree inside one node, and no release before 2.17 has NVLS.
bool release_offers(const NcclRelease& release, Algorithm a, Protocol p, std::size_t nodes) {
  if (p == Protocol::ll128 && !release.has_ll128()) return false;
  if (a == Algorithm::tree && nodes < 2 && !release.has_intra_node_tree()) return false;
  if (a == Algorithm::nvls && !release.has_nvls()) return false;
  return true;
}

bool allowed(Choice forced, Algorithm a) {
  switch (forced) {
    case Choice::automatic:
      return true;
    case Choice::ring:
      return a == Algorithm::ring;
    case Choice::tree:
      return a == Algorithm::tree;
    case Choice::nvls:
      return a == Algorithm::nvls;
    case Choice::direct:
      return a == Algorithm::direct;
    case Choice::hierarchical:
      return a == Algorithm::hierarchical;
  }
  return false;
}

// The --algo spelling of a choice (for errors).
std::string_view choice_name(Choice c) {
  switch (c) {
    case Choice::automatic:
      return "auto";
    case Choice::ring:
      return "ring";
    case Choice::tree:
      return "tree";
    case Choice::nvls:
      return "nvls";
    case Choice::direct:
      return "direct";
    case Choice::hierarchical:
      return "hierarchical";
  }
  return "?";
}

// Contention-free time of a direct all-to-all(-v) exchange of `bytes(i, j)` over the layout:
// per GPU, the larger of its NVLink/PCIe bytes at the intra-node bottleneck and its network
// bytes at its NIC share, in and out. With PXN (all_to_all.cpp) a cross-rail transfer is an
// NVLink leg to the proxy plus the proxy's network leg, so it counts there, as the flow model
// lowers it.
template <class BytesFn>
double exchange_us(const Topology& topo, const GroupLayout& layout, const GroupBandwidth& bw,
                   bool pxn, BytesFn bytes) {
  const std::size_t n = layout.ranks.size();
  std::vector<double> intra_out(n, 0), intra_in(n, 0), inter_out(n, 0), inter_in(n, 0);
  const std::shared_ptr<const PxnRelays> relays =
      pxn && bw.nodes > 1 ? pxn_relays(topo, layout.ranks) : nullptr;
  std::vector<int> node(n);  // looked up n^2 times below
  for (std::size_t i = 0; i < n; ++i) node[i] = topo.node_of(RankId{layout.ranks[i]});
  for (std::size_t i = 0; i < n; ++i) {
    const int ni = node[i];
    for (std::size_t j = 0; j < n; ++j) {
      if (i == j) continue;
      const double b = bytes(i, j);
      if (b <= 0) continue;
      if (node[j] == ni) {
        intra_out[i] += b;
        intra_in[j] += b;
        continue;
      }
      std::size_t sender = i;
      if (relays) {
        if (const auto proxy = relays->proxy_of(i, j)) {
          sender = *proxy;
          intra_out[i] += b;
          intra_in[sender] += b;
        }
      }
      inter_out[sender] += b;
      inter_in[j] += b;
    }
  }
  double worst = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double intra = std::max(intra_out[i], intra_in[i]);
    const double inter = std::max(inter_out[i], inter_in[i]);
    double t = 0;
    if (intra > 0) t = std::max(t, intra / bw.intra_bps);
    if (inter > 0) t = std::max(t, inter / bw.gpu_net_bps);
    worst = std::max(worst, t);
  }
  return worst * 1e6;
}

// True if the route from `gpu` to `peer` (another node) reaches its first network link through
// PCIe switches only (NCCL's PATH_PIX / PATH_PXB), not through a CPU.
bool nic_path_within_pcie_switches(const Topology& topo, RankId gpu, RankId peer) {
  for (DirectedLinkId d : topo.route(gpu, peer)) {
    if (topo.link_of(d).spec.kind == LinkKind::network) return true;
    const DeviceKind k = topo.devices()[topo.head_of(d)].kind;
    if (k == DeviceKind::cpu || k == DeviceKind::host_memory) return false;
  }
  return true;
}

}  // namespace

double exchange_posting_us(const Topology& topo, const CommOp& op, const NcclTuning& t,
                           bool hierarchical) {
  const std::size_t n = op.ranks.size();
  if (n < 2 || op.relay) return 0.0;
  std::vector<int> node(n);
  for (std::size_t i = 0; i < n; ++i) node[i] = topo.node_of(op.ranks[i]);
  const bool v = op.matrix != nullptr && traits_of(op.kind).size == SizeConvention::matrix;
  std::size_t peers = 0;  // of the busiest rank
  if (hierarchical) {
    peers = make_layout(topo, op).nodes_spanned() - 1;
  } else if (!v) {
    // Every pair exchanges: a rank's peers are the group's ranks on other nodes (O(n), not
    // the n^2 pairs: three calls per all-to-all of 1,024 GPUs).
    std::unordered_map<int, std::size_t> on_node;
    for (int k : node) ++on_node[k];
    for (const auto& [k, count] : on_node) peers = std::max(peers, n - count);
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      std::size_t p = 0;
      for (std::size_t j = 0; j < n; ++j) {
        if (node[j] == node[i]) continue;
        if (!v || op.matrix->at(i, j) > 0 || op.matrix->at(j, i) > 0) ++p;
      }
      peers = std::max(peers, p);
    }
  }
  if (peers == 0) return 0.0;
  std::size_t nics = 0;
  for (const Device& d : topo.devices()) {
    if (d.kind == DeviceKind::nic && d.node >= 0) ++nics;
  }
  const double nics_per_node =
      std::max(1.0, static_cast<double>(nics) / static_cast<double>(topo.node_count()));
  const double gpus_per_nic =
      std::max(1.0, static_cast<double>(topo.gpus_per_node()) / nics_per_node);
  return t.p2p_posts_per_peer *
         t.net_overhead(Protocol::simple, topo.cpu_vendor() == CpuVendor::amd) *
         static_cast<double>(peers) * gpus_per_nic;
}

double collective_startup_us(const Topology& topo, const CommOp& op, const CollectiveConfig& cfg) {
  const std::size_t driven =
      std::min({static_cast<std::size_t>(std::max(1, cfg.gpus_per_thread)), op.ranks.size(),
                std::max<std::size_t>(1, topo.gpus_per_node())});
  return cfg.tuning.startup_us +
         static_cast<double>(driven > 0 ? driven - 1 : 0) * topo.group_launch_us();
}

GroupBandwidth group_bandwidth(const Topology& topo, const GroupLayout& layout) {
  GroupBandwidth bw;
  bw.n = layout.ranks.size();
  bw.nodes = layout.nodes_spanned();
  bw.ppn = layout.per_node_max();
  double intra = kInf;
  for (const auto& node : layout.nodes) {
    for (std::size_t j = 0; j < node.size() && node.size() > 1; ++j) {
      const RankId a{layout.ranks[node[j]]};
      const RankId b{layout.ranks[node[(j + 1) % node.size()]]};
      intra = std::min(intra, topo.route_bandwidth(a, b).bytes_per_s);
      const LinkClass hop = link_class(topo, a.value, b.value);
      bw.intra_class = std::max(bw.intra_class, hop);
      if (hop != LinkClass::nvlink) bw.ll128_paths = false;  // PIX..SYS: above PATH_NVB
    }
  }
  if (layout.nodes_spanned() > 1) {
    // Each member's way to its node's NIC (the route toward the next node, up to its first
    // network link): through a CPU is PATH_PHB or worse, above PATH_PXB.
    for (std::size_t k = 0; k < layout.nodes.size() && bw.ll128_paths; ++k) {
      const auto& next = layout.nodes[(k + 1) % layout.nodes.size()];
      const RankId peer{layout.ranks[next.front()]};
      for (std::uint32_t pos : layout.nodes[k]) {
        if (!nic_path_within_pcie_switches(topo, RankId{layout.ranks[pos]}, peer)) {
          bw.ll128_paths = false;
          break;
        }
      }
    }
  }
  // No PCIe P2P (topology.hpp, host_memory): the ring's SHM hops all run at once and every one
  // crosses its receiver socket's memory port twice, so a hop gets the port / its crossings.
  // Across nodes a node holds a path of its members, not a cycle (NET -> GPU a -> ... -> GPU x
  // -> NET, NVIDIA/nccl src/graph/search.cc): size - 1 SHM hops, the NIC hops GPUDirect RDMA
  // (the preset's assumption), as the flow lowering runs it (ring.cpp).
  const std::size_t closing_hop = layout.nodes_spanned() > 1 ? 0 : 1;
  for (const auto& node : layout.nodes) {
    if (node.size() < 2 || !topo.node_uses_shm(topo.node_of(RankId{layout.ranks[node[0]]}))) {
      continue;
    }
    std::map<DirectedLinkId, int> crossings;
    for (std::size_t j = 0; j + 1 < node.size() + closing_hop; ++j) {
      const RankId a{layout.ranks[node[j]]};
      const RankId b{layout.ranks[node[(j + 1) % node.size()]]};
      for (DirectedLinkId d : topo.route(a, b)) {
        if (topo.devices()[topo.head_of(d)].kind == DeviceKind::host_memory) ++crossings[d];
      }
    }
    for (const auto& [d, count] : crossings) {
      intra = std::min(intra, topo.capacity(d) / static_cast<double>(count));
    }
  }
  bw.intra_bps = intra == kInf ? 0 : intra;
  bw.rings_bps = bw.intra_bps;
  if (bw.nodes == 1 && bw.n >= 3) {
    const RingSet rings = node_ring_set(topo, layout);
    if (rings.rings.size() > 1) bw.rings_bps = rings.bytes_per_s;
    bw.same_channels = std::all_of(rings.rings.begin(), rings.rings.end(),
                                   [&](const auto& r) { return r == rings.rings.front(); });
  }
  if (bw.nodes > 1) {
    double net = kInf;
    for (const auto& node : layout.nodes) {
      net = std::min(net, network_of_node(topo, topo.node_of(RankId{layout.ranks[node[0]]})));
    }
    // A GPU's share of its node's network (all-to-all: NIC affinity) is of the whole node; a
    // ring's or tree's channels reach only the NICs of the group's members (group_network,
    // flow_plan.hpp: NCCL builds the graph of the communicator's GPUs only), as the flow
    // lowering runs them.
    bw.gpu_net_bps = net / static_cast<double>(topo.gpus_per_node());
    const GroupNetwork reach = group_network(topo, layout);
    bw.node_net_bps = reach.bytes_per_s;
    bw.network_nics = reach.nics_per_node;
    bw.same_channels = reach.nics_per_node <= 1;
  }
  return bw;
}

namespace {
struct RelayLegTimes {
  double legs_s = 0;    ///< the busiest GPU's slower leg: the legs fully overlapped
  double finish_s = 0;  ///< the busiest GPU's finish with its kernel's pipeline
};

// A relay's legs per GPU: the network leg at its NIC share, the NVLink leg at the intra-node
// bottleneck with its bytes charged at DeepEP's NVLink rate (deepep_nvlink_rate.hpp, as the
// flow lowering). DeepEP's normal kernels pipeline them fully (the slower one); Hybrid-EP's
// chunk rounds add the forwarding left after the last chunk lands (hybrid_ep_pipeline.hpp).
RelayLegTimes relay_leg_times(const Topology& topo, const CommOp& op, const GroupBandwidth& bw) {
  const NodeRelayExchange& x = *op.relay;
  const std::size_t n = op.ranks.size();
  std::vector<double> net_out(n, 0.0), net_in(n, 0.0), nvl_out(n, 0.0), nvl_in(n, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      const auto net = static_cast<double>(x.network.at(i, j));
      net_out[i] += net;
      net_in[j] += net;
      const auto local = static_cast<double>(x.local.at(i, j));
      if (local <= 0) continue;
      const double wire = local * deepep_nvlink_wire_factor(topo, op.ranks[i], op.ranks[j]);
      nvl_out[i] += wire;
      nvl_in[j] += wire;
    }
  }
  RelayLegTimes out;
  for (std::size_t i = 0; i < n; ++i) {
    const double net_s =
        bw.gpu_net_bps > 0 ? std::max(net_out[i], net_in[i]) / bw.gpu_net_bps : 0.0;
    const double nvl_s = bw.intra_bps > 0 ? std::max(nvl_out[i], nvl_in[i]) / bw.intra_bps : 0.0;
    out.legs_s = std::max(out.legs_s, std::max(net_s, nvl_s));
    out.finish_s =
        std::max(out.finish_s, chunked_relay_finish_s(net_s, nvl_s, x.chunk_rounds, x.nodes));
  }
  return out;
}
}  // namespace

std::vector<AlgoTime> nccl_candidates(const Topology& topo, const CommOp& op,
                                      const CollectiveConfig& cfg) {
  const NcclTuning& t = cfg.tuning;
  const GroupLayout layout = make_layout(topo, op);
  const GroupBandwidth bw = group_bandwidth(topo, layout);
  const std::size_t n = bw.n;
  const double s = op.bytes.as_double();
  std::vector<AlgoTime> out;
  // `model_us`: NCCL's model time, by which it chooses (NcclChoiceCorrections); `us` is charged.
  auto add_modelled = [&](Algorithm a, Protocol p, double us, double model_us) {
    if (p == Protocol::ll128 && !bw.ll128_paths) return;  // NCCL leaves LL128 off here
    if (!release_offers(cfg.nccl, a, p, bw.nodes)) return;
    if (allowed(cfg.algorithm, a)) out.push_back(AlgoTime{a, p, us, model_us});
  };
  auto add = [&](Algorithm a, Protocol p, double us) { add_modelled(a, p, us, us); };
  if (n < 2) {
    out.push_back(AlgoTime{Algorithm::direct, Protocol::simple, 0.0, 0.0});
    return out;
  }
  // Ring bottleneck: the slower of the intra-node links and the node's network ports.
  double ring_bps = kInf;
  if (bw.ppn > 1) ring_bps = std::min(ring_bps, bw.intra_bps);
  if (bw.nodes > 1) ring_bps = std::min(ring_bps, bw.node_net_bps);
  // A ring or tree across nodes on the channels NCCL runs this size with (nccl_work_shape.hpp):
  // fewer channels than NICs reach only that many of the members' NICs, as the flow lowering
  // runs them (ring.cpp, tree_all_reduce.cpp).
  auto shaped_bps = [&](Algorithm a, Protocol p) {
    if (bw.nodes <= 1 || bw.network_nics == 0) return ring_bps;
    const int nics = static_cast<int>(bw.network_nics);
    const int used = nccl_network_work_channels(nics, s, a, p, n);
    if (used >= nics) return ring_bps;
    double b = bw.node_net_bps * static_cast<double>(used) / static_cast<double>(nics);
    if (bw.ppn > 1) b = std::min(b, bw.intra_bps);
    return b;
  };
  const double nd = static_cast<double>(n);
  const auto protocols = {Protocol::ll, Protocol::ll128, Protocol::simple};
  const double ll_cap_bps = ll_max_bps(topo, t, bw.nodes);
  auto proto_bps = [&](Protocol p, double base_bps) {
    double b = base_bps * t.bandwidth_factor(p);
    if (p == Protocol::ll) b = std::min(b, ll_cap_bps);
    return b;
  };
  // NCCL's ring latency for the configured release (nccl_ring_latency.hpp), as the flow
  // lowering charges it (ring.cpp).
  auto ring_latency = [&](Protocol p, std::size_t steps, bool all_reduce) {
    return nccl_ring_latency(t, cfg.nccl, p,
                             RingLatencyShape{steps, bw.nodes, all_reduce, bw.intra_class,
                                              topo.cpu_vendor() == CpuVendor::amd});
  };
  const CollectiveTraits& traits = traits_of(op.kind);
  if (op.relay) {
    // The strategy chose DeepEP's (or Hybrid-EP's) kernels: no NCCL algorithm choice.
    const LinkClass c = bw.nodes > 1 ? LinkClass::net : bw.intra_class;
    const double relay_us = t.hw(c, Algorithm::ring, Protocol::simple) +
                            relay_leg_times(topo, op, bw).finish_s * 1e6 +
                            collective_startup_us(topo, op, cfg);
    out.push_back(AlgoTime{Algorithm::node_relay, Protocol::simple, relay_us, relay_us});
    return out;
  }
  switch (traits.lowering) {
    case CollectiveLowering::reduction:
    case CollectiveLowering::ring: {
      const bool ar = traits.lowering == CollectiveLowering::reduction;
      const auto steps = static_cast<std::size_t>(traits.steps(n));
      const double bytes = traits.bus_factor(n) * s;
      // One node: NCCL's ring set, as the flow model lowers it (ring.cpp).
      // Across nodes, unless a channel count is forced: the NICs NCCL's channels for this size
      // reach.
      const bool shaped = bw.nodes > 1 && cfg.channels == 0;
      for (Protocol p : protocols) {
        const double path_bps = bw.nodes == 1 && cfg.channels == 0
                                    ? bw.rings_bps
                                    : (shaped ? shaped_bps(Algorithm::ring, p) : ring_bps);
        // NCCL's plateau factor on a ring/Simple all-reduce's latency across nodes, for the
        // choice only (nccl_choice_corrections.hpp); channels as the lowering runs them (counted
        // only here: network_channels scans the topology's devices).
        double plateau = 1.0;
        if (ar && bw.nodes > 1 && p == Protocol::simple) {
          const int channels = cfg.channels > 0
                                   ? cfg.channels
                                   : nccl_network_work_channels(network_channels(topo, layout), s,
                                                                Algorithm::ring, p, n);
          plateau = t.choice.ring_simple_latency_factor(nccl_gpu_generation(topo.gpu_model()), s,
                                                        static_cast<double>(channels), nd);
        }
        // NCCL's own count of network steps chooses; the charge takes no more than the steps.
        const NcclRingLatency lat = ring_latency(p, steps, ar);
        const double wire_us = bytes / proto_bps(p, path_bps) * 1e6;
        add_modelled(Algorithm::ring, p, lat.charged_us() + wire_us,
                     plateau * lat.model_us() + wire_us);
      }
      if (ar) {
        // The tree's network levels: NCCL's binary tree's depth is charged, as the flow
        // lowering runs it; tuning.cc's count only chooses (nccl_ring_latency.hpp).
        const auto charged_levels = static_cast<double>(nccl_tree_levels(bw.nodes));
        const auto model_levels = static_cast<double>(nccl_tree_model_levels(bw.nodes));
        for (Protocol p : protocols) {
          const auto lat = [&](double depth) {
            return t.base(Algorithm::tree, p) +
                   2.0 * (static_cast<double>(bw.ppn - 1) *
                              nccl_intra_step_us(t, cfg.nccl, Algorithm::tree, p, bw.intra_class,
                                                 bw.nodes) +
                          depth * t.hw(LinkClass::net, Algorithm::tree, p));
          };
          const double path_bps = shaped ? shaped_bps(Algorithm::tree, p) : ring_bps;
          const double wire_us = s / (proto_bps(p, path_bps) * t.tree_bandwidth_factor) * 1e6;
          // NCCL's treeCorrectionFactor scales the tree's bandwidth, for the choice only.
          add_modelled(Algorithm::tree, p, lat(charged_levels) + wire_us,
                       lat(model_levels) + wire_us / t.choice.tree_bandwidth_factor(p, s));
        }
        if (nvls_available(topo, op)) {
          add(Algorithm::nvls, Protocol::simple,
              t.nvls_fixed_us(s, n) +
                  t.nvls_link_bytes(s, n) / (bw.intra_bps * t.nvls_efficiency) * 1e6);
        }
      }
      break;
    }
    case CollectiveLowering::rooted_chain:
      // NCCL runs a broadcast or reduce as a pipelined chain along every channel's ring, the
      // buffer split over the channels (src/device/broadcast.h, reduce.h), on the channels a
      // ring collective of this size runs (ring_channel_orders, as the flow lowering runs it):
      // inside one node the ring set, across nodes the NICs those channels reach.
      for (Protocol p : protocols) {
        const double path_bps =
            bw.nodes == 1 && cfg.channels == 0
                ? bw.rings_bps
                : (bw.nodes > 1 && cfg.channels == 0 ? shaped_bps(Algorithm::ring, p) : ring_bps);
        // NCCL's own latency for a ring broadcast / reduce, which only chooses (tuning.cc, the
        // same in every release read, 2.17 - 2.29): baseLat plus one hwLat when the channels
        // repeat one GPU order (sameChannels), else nsteps = nRanks of them, Simple's taken from
        // the tree ("waiting for proper chunk modeling"); hw = NET across nodes. The chain's
        // own hops (n - 1 steps of the ring latency) are charged.
        const LinkClass hw = bw.nodes > 1 ? LinkClass::net : bw.intra_class;
        const double step_us = !bw.same_channels && p == Protocol::simple
                                   ? t.hw(hw, Algorithm::tree, p)
                                   : t.hw(hw, Algorithm::ring, p);
        const double model_lat_us =
            t.base(Algorithm::ring, p) + (bw.same_channels ? 1.0 : nd) * step_us;
        const double wire_us = s / proto_bps(p, path_bps) * 1e6;
        add_modelled(Algorithm::ring, p, ring_latency(p, n - 1, false).charged_us() + wire_us,
                     model_lat_us + wire_us);
      }
      break;
    case CollectiveLowering::point_to_point: {
      const RankId a = op.ranks[0];
      const RankId b = op.ranks[1];
      if (a == b) {
        add(Algorithm::direct, Protocol::simple, 0.0);
      } else {
        add(Algorithm::direct, Protocol::simple,
            t.hw(link_class(topo, a.value, b.value), Algorithm::ring, Protocol::simple) +
                s / topo.route_bandwidth(a, b).bytes_per_s * 1e6);
      }
      break;
    }
    case CollectiveLowering::exchange: {
      const bool v = traits.size == SizeConvention::matrix;
      const double each = s / nd;
      auto bytes = [&](std::size_t i, std::size_t j) {
        return v ? static_cast<double>(op.matrix->at(i, j)) : each;
      };
      const LinkClass c = bw.nodes > 1 ? LinkClass::net : bw.intra_class;
      // Each candidate costs a pass over the n^2 pairs (the hierarchical one a lowering):
      // only those --algo allows.
      if (allowed(cfg.algorithm, Algorithm::direct)) {
        add(Algorithm::direct, Protocol::simple,
            t.hw(c, Algorithm::ring, Protocol::simple) +
                exchange_us(topo, layout, bw, cfg.uses_pxn(), bytes) +
                exchange_posting_us(topo, op, t, false));
      }
      // NCCL has no hierarchical all-to-all: ncclAllToAll and PyTorch's all_to_all_single are
      // a grouped ncclSend/ncclRecv per peer, and what NCCL merges is PXN's (the messages of a
      // node for one remote GPU meet at the proxy on that GPU's rail, search.cc
      // P2P_PXN_LEVEL = 2, "as much as possible to maximize aggregation"), which the direct
      // lowering models. So the automatic choice never takes the two-stage 2D exchange; it is
      // priced only when forced (--algo hierarchical), as a what-if. Tutel's 2DH is emitted by
      // the Tutel strategy as two NCCL all-to-alls, not through this choice.
      if (cfg.algorithm == Choice::hierarchical && bw.nodes > 1 && bw.ppn > 1) {
        // Stage 1 moves, per GPU, everything not for its own local rank: intra links; stage 2
        // moves, per GPU, the aggregated blocks for other nodes: its NIC.
        const FlowPlan plan = lower_hierarchical_all_to_all(topo, op, cfg);
        if (plan.algorithm == Algorithm::hierarchical) {
          double us = 0;
          for (const Stage& st : plan.stages) {
            std::vector<double> out_b(topo.gpu_count(), 0), in_b(topo.gpu_count(), 0);
            bool inter_stage = false;
            for (const FlowSpec& f : st.flows) {
              out_b[f.src] += f.bytes;
              in_b[f.dst] += f.bytes;
              inter_stage = topo.node_of(RankId{f.src}) != topo.node_of(RankId{f.dst});
            }
            double worst = 0;
            for (std::size_t r = 0; r < out_b.size(); ++r)
              worst = std::max({worst, out_b[r], in_b[r]});
            us += st.latency.us() + worst / (inter_stage ? bw.gpu_net_bps : bw.intra_bps) * 1e6;
          }
          add(Algorithm::hierarchical, Protocol::simple, us);
        }
      }
      break;
    }
  }
  if (out.empty()) {
    // The forced choice is the only candidate, and this operation on this topology lacks it
    // (e.g. hierarchical inside one node, nvls without NVLink SHARP).
    throw input_error("", "--algo", "algorithm not available for this operation",
                      fmt::format("{} for {} on {} node(s) x {} GPUs", choice_name(cfg.algorithm),
                                  to_string(op.kind), bw.nodes, bw.ppn),
                      "auto or one the operation supports here (hierarchical: an all-to-all over "
                      "more than one node with more than one GPU per node)");
  }
  // The start-up NCCL's table leaves out is the same for every choice: it does not move the argmin.
  const double startup_us = collective_startup_us(topo, op, cfg);
  for (AlgoTime& a : out) {
    a.time_us += startup_us;
    a.model_us += startup_us;
  }
  // NCCL's argmin is over its model time (topoGetAlgoInfo, src/enqueue.cc).
  std::stable_sort(out.begin(), out.end(),
                   [](const AlgoTime& a, const AlgoTime& b) { return a.model_us < b.model_us; });
  return out;
}

AlgoTime nccl_best(const Topology& topo, const CommOp& op, const CollectiveConfig& cfg) {
  return nccl_candidates(topo, op, cfg).front();
}

namespace {
FlowPlan lower_chosen(const Topology& topo, const CommOp& op, const CollectiveConfig& cfg,
                      const AlgoTime& best) {
  if (best.algorithm == Algorithm::node_relay) return lower_node_relay_all_to_all(topo, op, cfg);
  switch (traits_of(op.kind).lowering) {
    case CollectiveLowering::reduction:
      if (best.algorithm == Algorithm::nvls) return lower_nvls_all_reduce(topo, op, cfg);
      if (best.algorithm == Algorithm::tree)
        return lower_tree_all_reduce(topo, op, cfg, best.protocol);
      return lower_ring(topo, op, cfg, best.protocol);
    case CollectiveLowering::ring:
      return lower_ring(topo, op, cfg, best.protocol);
    case CollectiveLowering::rooted_chain:
      if (traits_of(op.kind).reduces) return lower_reduce(topo, op, cfg, best.protocol);
      return lower_broadcast(topo, op, cfg, best.protocol);
    case CollectiveLowering::point_to_point:
      return lower_send_recv(topo, op, cfg);
    case CollectiveLowering::exchange:
      if (best.algorithm == Algorithm::hierarchical)
        return lower_hierarchical_all_to_all(topo, op, cfg);
      return lower_all_to_all(topo, op, cfg);
  }
  return {};
}
}  // namespace

FlowPlan lower_collective(const Topology& topo, const CommOp& op, const CollectiveConfig& cfg) {
  const AlgoTime best = nccl_best(topo, op, cfg);
  FlowPlan plan = lower_chosen(topo, op, cfg, best);
  // The start-up NCCL's table leaves out (nccl_tuning.hpp), charged once before the first stage.
  if (!plan.stages.empty()) {
    plan.stages.front().latency += SimTime::from_us(collective_startup_us(topo, op, cfg));
  }
  // Hybrid-EP's chunked pipeline: the flows move the legs overlapped; the forwarding left after
  // the last chunk lands (hybrid_ep_pipeline.hpp) is charged as the analytical price has it.
  if (op.relay && op.relay->chunk_rounds > 0 && !plan.stages.empty()) {
    const RelayLegTimes legs =
        relay_leg_times(topo, op, group_bandwidth(topo, make_layout(topo, op)));
    plan.stages.front().latency += SimTime::from_us((legs.finish_s - legs.legs_s) * 1e6);
  }
  // A calibrated fit for this collective, level and group size rescales the plan (NCCL's
  // collectives only: a fit of NCCL's all-to-all-v says nothing about DeepEP's kernels).
  if (!op.relay) apply_calibration(topo, op, cfg, best.time_us, plan);
  return plan;
}

std::string_view to_string(Algorithm a) {
  switch (a) {
    case Algorithm::ring:
      return "ring";
    case Algorithm::tree:
      return "tree";
    case Algorithm::nvls:
      return "nvls";
    case Algorithm::direct:
      return "direct";
    case Algorithm::hierarchical:
      return "hierarchical";
    case Algorithm::node_relay:
      return "node_relay";
  }
  return "?";
}

std::string_view to_string(Protocol p) {
  switch (p) {
    case Protocol::ll:
      return "LL";
    case Protocol::ll128:
      return "LL128";
    case Protocol::simple:
      return "Simple";
  }
  return "?";
}

}  // namespace moesim::network
