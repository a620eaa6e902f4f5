// Broadcast as NCCL's ring algorithm runs it (NVIDIA/nccl src/device/broadcast.h, runRing): on
// every channel a pipelined chain from the root along that channel's ring (ring->userRanks
// rotated to start at the root), the buffer split evenly over the channels, each channel moving
// its share in chunks down its own chain. The channels are the ring collectives' (ring.cpp,
// ring_channel_orders): across nodes one per NIC the members reach, each entering and leaving
// every node through its own NIC, so the chains together use every rail, as NCCL's multi-node
// ring graph does. Pipelined, every chain link carries its channel's share at once, so one stage
// holds all n-1 hops of every channel.
// Latency: NCCL's ring latency with n-1 steps, nodes-1 of them network hops (tuning.cc, as
// nccl_cost_model.cpp prices CollectiveLowering::rooted_chain); the plan adds no link latency.
#include <unordered_set>

#include "sim/network/collectives/flow_plan.hpp"
#include "sim/network/nccl_ring_latency.hpp"

namespace moesim::network {

FlowPlan chain_plan(const Topology& topo, const CommOp& op, const CollectiveConfig& cfg,
                    Protocol protocol, bool toward_root) {
  FlowPlan plan;
  plan.adds_link_latency = false;  // NCCL's step latencies hold the hops' (flow_plan.hpp)
  plan.algorithm = Algorithm::ring;
  plan.protocol = protocol;
  const GroupLayout layout = make_layout(topo, op);
  const std::size_t n = layout.ranks.size();
  if (n < 2) return plan;
  const std::vector<std::vector<std::uint32_t>> order =
      ring_channel_orders(topo, layout, op, cfg, protocol);
  std::size_t root = 0;  // position of the root in layout.ranks
  for (std::size_t i = 0; i < n; ++i) {
    if (layout.ranks[i] == op.root.value) root = i;
  }
  const NcclTuning& t = cfg.tuning;
  const double wire =
      op.bytes.as_double() / static_cast<double>(order.size()) / t.bandwidth_factor(protocol);
  // NCCL's ring latency for n - 1 steps, as the planner prices CollectiveLowering::rooted_chain
  // (nccl_ring_latency.hpp, for the configured release).
  const double lat =
      nccl_ring_latency(t, cfg.nccl, protocol,
                        RingLatencyShape{n - 1, layout.nodes_spanned(), false,
                                         ring_intra_class(topo, layout, order.front()),
                                         topo.cpu_vendor() == CpuVendor::amd})
          .charged_us();
  Stage stage;
  stage.flows.reserve(order.size() * (n + layout.nodes_spanned()));
  const std::unordered_set<std::uint32_t> members(layout.ranks.begin(), layout.ranks.end());
  for (const auto& ring : order) {
    std::size_t start = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (ring[i] == root) start = i;
    }
    // Broadcast's chain starts at the root, reduce's at the root's successor and ends at the
    // root: either way every hop of the ring but one, in the ring's direction.
    const std::size_t first = start + (toward_root ? 1 : 0);
    for (std::size_t i = 0; i + 1 < n; ++i) {
      // A hop between nodes stays on the channel's rail, as a ring's (ring_hop_flows).
      ring_hop_flows(topo, members, cfg.pxn, layout.ranks[ring[(first + i) % n]],
                     layout.ranks[ring[(first + i + 1) % n]], wire, stage.flows);
    }
  }
  stage.latency = SimTime::from_us(lat);
  // Under LL the chain moves the buffer no faster than NCCL's LL ceiling, as the argmin prices
  // it (S / min(link rate x 0.5, llMaxBw)).
  stage.min_transfer =
      ll_min_transfer(topo, t, protocol, layout.nodes_spanned(), op.bytes.as_double());
  plan.stages.push_back(std::move(stage));
  return plan;
}

FlowPlan lower_broadcast(const Topology& topo, const CommOp& op, const CollectiveConfig& cfg,
                         Protocol protocol) {
  return chain_plan(topo, op, cfg, protocol, false);
}

}  // namespace moesim::network
