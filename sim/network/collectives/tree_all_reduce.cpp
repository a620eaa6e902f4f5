// Tree all-reduce, as NCCL's double binary tree: inside a node the GPUs form a chain to the
// node's head GPU; the nodes' heads form two binary trees (the second over the reversed node
// order, so a node that is a leaf in one is inner in the other), each carrying half the buffer;
// one such pair per channel (one per NIC, each with its own head next to that NIC, so the trees'
// node-crossing edges go from NIC n to NIC n: channel_entries). Reduce goes up, broadcast comes
// down; both are pipelined, so each phase is one stage in which every tree edge carries its half at
// once.
#include "sim/network/collectives/flow_plan.hpp"
#include "sim/network/nccl_ring_latency.hpp"
#include "sim/network/nccl_work_shape.hpp"

namespace moesim::network {

FlowPlan lower_tree_all_reduce(const Topology& topo, const CommOp& op, const CollectiveConfig& cfg,
                               Protocol protocol) {
  FlowPlan plan;
  plan.adds_link_latency = false;  // NCCL's step latencies hold the hops' (flow_plan.hpp)
  plan.algorithm = Algorithm::tree;
  plan.protocol = protocol;
  const GroupLayout layout = make_layout(topo, op);
  if (layout.ranks.size() < 2) return plan;
  const NcclTuning& t = cfg.tuning;
  // Wire bytes per tree edge and phase: half the buffer at the protocol's rate and NCCL's 0.92
  // cap. NCCL's other factor, x0.5 from busBw to algbw (tree_bandwidth_factor = 0.5 x 0.92),
  // is the two phases themselves: a GPU receives its children's halves going up and its
  // parents' halves coming down, 2 S in all, so dividing by it here as well would charge the
  // tree twice what the argmin priced it at (nccl_cost_model.cpp: S / (0.46 f B)).
  // One pair of trees per channel (network_channels: one per NIC), each over its share of the
  // buffer: channel c rotates every node's order by c, so its chain ends at (and its trees
  // leave the node from) a different GPU, and so through a different NIC, as NCCL's tree graph
  // spreads channels over NICs. The argmin prices the NICs of the group's members
  // (group_network, node_net_bps): one per member up to the node's NICs, as run here.
  // Fewer when NCCL runs this size on fewer channels (nccl_work_shape.hpp), as the argmin
  // prices it.
  const int channels = cfg.channels > 0 ? cfg.channels
                                        : nccl_network_work_channels(
                                              network_channels(topo, layout), op.bytes.as_double(),
                                              Algorithm::tree, protocol, layout.ranks.size());
  const auto entries = channel_entries(topo, layout, channels, ChannelExit::entry_only);
  const double half = op.bytes.as_double() / static_cast<double>(channels) / 2.0 /
                      t.bandwidth_factor(protocol) / (2.0 * t.tree_bandwidth_factor);
  std::vector<std::pair<std::uint32_t, std::uint32_t>> up;  // child -> parent, global ranks
  for (int c = 0; c < channels; ++c) {
    // at(m, j): the j-th GPU of node m in channel c's order (j = 0 is its head, next to the
    // channel's NIC: channel_entries).
    auto at = [&](std::size_t m, std::size_t j) {
      const auto& node = layout.nodes[m];
      return layout.ranks[node[(j + entries[static_cast<std::size_t>(c)][m]) % node.size()]];
    };
    for (int tree = 0; tree < 2; ++tree) {
      const std::size_t k = layout.nodes.size();
      for (std::size_t m = 0; m < k; ++m) {
        for (std::size_t j = 1; j < layout.nodes[m].size(); ++j)
          up.emplace_back(at(m, j), at(m, j - 1));
      }
      for (std::size_t i = 1; i < k; ++i) {
        const std::size_t child = tree == 0 ? i : k - 1 - i;
        const std::size_t parent = tree == 0 ? (i - 1) / 2 : k - 1 - (i - 1) / 2;
        up.emplace_back(at(child, 0), at(parent, 0));
      }
    }
  }
  // Network levels a chunk crosses each way, NCCL's btree depth as the argmin charges it; the
  // links above are a heap-ordered tree, whose depth is the same on powers of two.
  const std::size_t depth = nccl_tree_levels(layout.nodes.size());
  // The slowest hop between consecutive GPUs of a node sets the intra-node latency class, as
  // in the argmin (group_bandwidth, nccl_cost_model.cpp): NVLink, or PCI on PCIe / SHM nodes.
  LinkClass chain = LinkClass::nvlink;
  for (const auto& node : layout.nodes) {
    for (std::size_t j = 0; j < node.size() && node.size() > 1; ++j) {
      chain = std::max(chain, link_class(topo, layout.ranks[node[j]],
                                         layout.ranks[node[(j + 1) % node.size()]]));
    }
  }
  // NCCL up to 2.17 charges LL's intra-node steps x1.8 across nodes (nccl_ring_latency.hpp).
  const double intra =
      nccl_intra_step_us(t, cfg.nccl, Algorithm::tree, protocol, chain, layout.nodes_spanned());
  const double phase_us =
      static_cast<double>(layout.per_node_max() - 1) * intra +
      static_cast<double>(depth) * t.hw(LinkClass::net, Algorithm::tree, protocol);
  Stage reduce;
  reduce.latency = SimTime::from_us(t.base(Algorithm::tree, protocol) + phase_us);
  Stage bcast;
  bcast.latency = SimTime::from_us(phase_us);
  // Under LL each phase moves no faster than NCCL's LL ceiling: the argmin prices the tree at
  // S / (min(link rate x 0.5, llMaxBw) x 0.46), half of it in each phase.
  const SimTime phase_floor =
      ll_min_transfer(topo, t, protocol, layout.nodes_spanned(),
                      op.bytes.as_double() / (2.0 * t.tree_bandwidth_factor));
  reduce.min_transfer = phase_floor;
  bcast.min_transfer = phase_floor;
  for (const auto& [child, parent] : up) {
    reduce.flows.push_back(FlowSpec{child, parent, half, Segment::full});
    bcast.flows.push_back(FlowSpec{parent, child, half, Segment::full});
  }
  plan.stages.push_back(std::move(reduce));
  plan.stages.push_back(std::move(bcast));
  return plan;
}

}  // namespace moesim::network
