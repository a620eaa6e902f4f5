// Ring all-reduce, all-gather and reduce-scatter, as NCCL's ring algorithm runs them.
//
// Inside one node NCCL runs one channel per ring its search found (ring_search.hpp: six rings on
// a DGX-1 hybrid cube-mesh, one per NVLink of every GPU; one ring on NVSwitch and PCIe nodes).
// Across nodes NCCL builds `channels` rings; each visits the GPUs of one node, then crosses to
// the next node. Channel c enters every node at the GPU next to the node's c-th NIC and leaves
// it through that NIC (channel_entries, flow_plan.hpp: NCCL's NET n -> GPU a -> ... -> GPU x ->
// NET n pattern), so different channels leave a node through different NICs and each inter-node
// hop stays on one rail; the last GPU reaches the channel's NIC through PXN (ring_hop_flows).
// Every step, each rank sends one chunk to its successor: all-reduce takes 2(n-1) steps
// (reduce-scatter then all-gather) of S/n per rank, all-gather and reduce-scatter n-1 steps of
// S/n; the chunk is split evenly over the channels. A forced channel count
// (CollectiveConfig::channels > 0) runs that many rotated copies of the layout's ring.
// Latency: NCCL's per-step latencies (nccl_tuning.hpp), which hold the hops' wire and switch
// latency, so the plan adds no link latency of its own (FlowPlan::adds_link_latency).
#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "sim/network/collectives/flow_plan.hpp"
#include "sim/network/collectives/ring_search.hpp"
#include "sim/network/nccl_ring_latency.hpp"
#include "sim/network/nccl_work_shape.hpp"
#include "sim/workload/collective_traits.hpp"

namespace moesim::network {

std::vector<std::vector<std::uint32_t>> ring_channel_orders(const Topology& topo,
                                                            const GroupLayout& layout,
                                                            const CommOp& op,
                                                            const CollectiveConfig& cfg,
                                                            Protocol protocol) {
  const std::size_t n = layout.ranks.size();
  std::vector<std::vector<std::uint32_t>> order;
  if (n < 2) return order;
  if (layout.nodes_spanned() == 1 && cfg.channels == 0) {
    // The search answers in global ranks; the plan works in positions of layout.ranks.
    std::unordered_map<std::uint32_t, std::uint32_t> position;
    for (std::uint32_t pos : layout.nodes.front()) position.emplace(layout.ranks[pos], pos);
    for (const auto& ring : node_ring_set(topo, layout).rings) {
      auto& channel = order.emplace_back();
      for (std::uint32_t rank : ring) channel.push_back(position.at(rank));
    }
    return order;
  }
  // One channel per NIC the members reach, unless NCCL runs this size on fewer
  // (nccl_work_shape.hpp: its thread-threshold loop); a forced count is kept as given.
  const int channels = cfg.channels > 0 ? cfg.channels
                                        : nccl_network_work_channels(network_channels(topo, layout),
                                                                     op.bytes.as_double(),
                                                                     Algorithm::ring, protocol, n);
  const auto entries = channel_entries(topo, layout, channels, ChannelExit::predecessor);
  order.resize(static_cast<std::size_t>(channels));
  for (std::size_t c = 0; c < order.size(); ++c) {
    for (std::size_t m = 0; m < layout.nodes.size(); ++m) {
      const auto& node = layout.nodes[m];
      const std::size_t k = node.size();
      for (std::size_t j = 0; j < k; ++j) order[c].push_back(node[(j + entries[c][m]) % k]);
    }
  }
  return order;
}

LinkClass ring_intra_class(const Topology& topo, const GroupLayout& layout,
                           const std::vector<std::uint32_t>& order) {
  const std::size_t n = order.size();
  LinkClass intra = LinkClass::nvlink;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t a = layout.ranks[order[i]];
    const std::uint32_t b = layout.ranks[order[(i + 1) % n]];
    if (topo.node_of(RankId{a}) == topo.node_of(RankId{b})) {
      intra = std::max(intra, link_class(topo, a, b));
    }
  }
  return intra;
}

FlowPlan lower_ring(const Topology& topo, const CommOp& op, const CollectiveConfig& cfg,
                    Protocol protocol) {
  FlowPlan plan;
  plan.algorithm = Algorithm::ring;
  plan.protocol = protocol;
  plan.adds_link_latency = false;
  const GroupLayout layout = make_layout(topo, op);
  const std::size_t n = layout.ranks.size();
  if (n < 2) return plan;
  // order[c]: channel c's ring, as positions in layout.ranks.
  const std::vector<std::vector<std::uint32_t>> order =
      ring_channel_orders(topo, layout, op, cfg, protocol);
  const std::size_t channels = order.size();
  const auto steps = static_cast<std::size_t>(traits_of(op.kind).steps(n));
  const double wire = op.bytes.as_double() / static_cast<double>(n) /
                      static_cast<double>(channels) / cfg.tuning.bandwidth_factor(protocol);
  const std::size_t nodes = layout.nodes_spanned();
  const NcclTuning& t = cfg.tuning;
  // NCCL's ring latency for the configured release (nccl_ring_latency.hpp, priced the same way
  // by nccl_cost_model.cpp): each chunk crosses the ring's network hops `inter` times and
  // intra-node hops the other steps, each at its class's step latency. The stages run one
  // after the other, so each takes the mean: they sum to the charged latency. (Charging every
  // step the network's, as if the slowest hop gated each, put 30 x 4.0 us on a 2-node LL128
  // ring where NCCL's model has 2 x 4.0 + 28 x 1.9.)
  const LinkClass intra = ring_intra_class(topo, layout, order.front());
  const bool reduction = traits_of(op.kind).lowering == CollectiveLowering::reduction;
  const NcclRingLatency latency = nccl_ring_latency(
      t, cfg.nccl, protocol,
      RingLatencyShape{steps, nodes, reduction, intra, topo.cpu_vendor() == CpuVendor::amd});
  const double step_us =
      steps == 0 ? 0.0 : (latency.charged_us() - latency.base_us) / static_cast<double>(steps);
  // Every step moves the same chunks over the same hops: the flows are built once.
  std::vector<FlowSpec> step_flows;
  step_flows.reserve(n * channels + (nodes > 1 ? nodes * channels : 0));
  const std::unordered_set<std::uint32_t> members(layout.ranks.begin(), layout.ranks.end());
  for (std::size_t c = 0; c < channels; ++c) {
    for (std::size_t i = 0; i < n; ++i) {
      ring_hop_flows(topo, members, cfg.pxn, layout.ranks[order[c][i]],
                     layout.ranks[order[c][(i + 1) % n]], wire, step_flows);
    }
  }
  // Each step moves S / n of payload per GPU over all its channels: under LL no faster than
  // NCCL's LL ceiling, as the argmin prices it (bus bytes / min(link rate x 0.5, llMaxBw)).
  const SimTime step_floor =
      ll_min_transfer(topo, t, protocol, nodes, op.bytes.as_double() / static_cast<double>(n));
  for (std::size_t s = 0; s < steps; ++s) {
    Stage stage;
    stage.latency = SimTime::from_us(step_us + (s == 0 ? latency.base_us : 0));
    stage.min_transfer = step_floor;
    stage.flows = step_flows;
    plan.stages.push_back(std::move(stage));
  }
  return plan;
}

}  // namespace moesim::network
