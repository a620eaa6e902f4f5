// Ring all-reduce, all-gather and reduce-scatter, as NCCL's ring algorithm runs them.
//
// Inside one node NCCL runs one channel per ring its search found (ring_search.hpp: six rings on
// a DGX-1 hybrid cube-mesh, one per NVLink of every GPU; one ring on NVSwitch and PCIe nodes).
// Across nodes NCCL builds `channels` rings; each visits the GPUs of one node, then crosses to
// the next node. Channel c rotates the order inside every node by c, so that different channels
// leave a node from different GPUs (and so through different NICs), as NCCL's ring search
// spreads channels over NICs. Every step, each rank sends one chunk to its successor: all-reduce
// takes 2(n-1) steps (reduce-scatter then all-gather) of S/n per rank, all-gather and
// reduce-scatter n-1 steps of S/n; the chunk is split evenly over the channels. A forced channel
// count (CollectiveConfig::channels > 0) runs that many rotated copies of the layout's ring.
#include <algorithm>
#include <unordered_map>

#include "sim/network/collectives/flow_plan.hpp"
#include "sim/network/collectives/ring_search.hpp"
#include "sim/network/nccl_work_shape.hpp"
#include "sim/workload/collective_traits.hpp"

namespace moesim::network {

FlowPlan lower_ring(const Topology& topo, const CommOp& op, const CollectiveConfig& cfg,
                    Protocol protocol) {
  FlowPlan plan;
  plan.algorithm = Algorithm::ring;
  plan.protocol = protocol;
  const GroupLayout layout = make_layout(topo, op);
  const std::size_t n = layout.ranks.size();
  if (n < 2) return plan;
  // order[c]: channel c's ring, as positions in layout.ranks.
  std::vector<std::vector<std::uint32_t>> order;
  if (layout.nodes_spanned() == 1 && cfg.channels == 0) {
    // The search answers in global ranks; the plan below works in positions of layout.ranks.
    std::unordered_map<std::uint32_t, std::uint32_t> position;
    for (std::uint32_t pos : layout.nodes.front()) position.emplace(layout.ranks[pos], pos);
    for (const auto& ring : node_ring_set(topo, layout).rings) {
      auto& channel = order.emplace_back();
      for (std::uint32_t rank : ring) channel.push_back(position.at(rank));
    }
  } else {
    // One channel per NIC the members reach, unless NCCL runs this size on fewer
    // (nccl_work_shape.hpp: its thread-threshold loop); a forced count is kept as given.
    const int channels = cfg.channels > 0 ? cfg.channels
                                          : nccl_network_work_channels(
                                                network_channels(topo, layout),
                                                op.bytes.as_double(), Algorithm::ring, protocol, n);
    order.resize(static_cast<std::size_t>(channels));
    for (int c = 0; c < channels; ++c) {
      for (const auto& node : layout.nodes) {
        const std::size_t k = node.size();
        for (std::size_t j = 0; j < k; ++j) order[c].push_back(node[(j + c) % k]);
      }
    }
  }
  const std::size_t channels = order.size();
  const auto steps = static_cast<std::size_t>(traits_of(op.kind).steps(n));
  const double wire = op.bytes.as_double() / static_cast<double>(n) /
                      static_cast<double>(channels) / cfg.tuning.bandwidth_factor(protocol);
  const std::size_t nodes = layout.nodes_spanned();
  const NcclTuning& t = cfg.tuning;
  // A step's latency: NET if the ring crosses nodes (the slowest hop gates the step), else the
  // intra-node class; multi-node intra hops cost at least the network post overhead.
  LinkClass intra = LinkClass::nvlink;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t a = layout.ranks[order[0][i]];
    const std::uint32_t b = layout.ranks[order[0][(i + 1) % n]];
    if (topo.node_of(RankId{a}) == topo.node_of(RankId{b})) {
      intra = std::max(intra, link_class(topo, a, b));
    }
  }
  const double step_us = nodes > 1 ? t.hw(LinkClass::net, Algorithm::ring, protocol)
                                   : t.hw(intra, Algorithm::ring, protocol);
  for (std::size_t s = 0; s < steps; ++s) {
    Stage stage;
    stage.latency = SimTime::from_us(step_us + (s == 0 ? t.base(Algorithm::ring, protocol) : 0));
    stage.flows.reserve(n * channels);
    for (std::size_t c = 0; c < channels; ++c) {
      for (std::size_t i = 0; i < n; ++i) {
        stage.flows.push_back(FlowSpec{layout.ranks[order[c][i]],
                                       layout.ranks[order[c][(i + 1) % n]], wire, Segment::full});
      }
    }
    plan.stages.push_back(std::move(stage));
  }
  return plan;
}

}  // namespace moesim::network
