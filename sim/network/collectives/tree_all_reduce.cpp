// Tree all-reduce, as NCCL's double binary tree: inside a node the GPUs form a chain to the
// node's first GPU; the nodes' first GPUs form two binary trees (the second over the reversed
// node order, so a node that is a leaf in one is inner in the other), each carrying half the
// buffer. Reduce goes up, broadcast comes down; both are pipelined, so each phase is one stage in
// which every tree edge carries its half at once.
#include "sim/network/collectives/flow_plan.hpp"

namespace moesim::network {

FlowPlan lower_tree_all_reduce(const Topology& topo, const CommOp& op, const CollectiveConfig& cfg,
                               Protocol protocol) {
  FlowPlan plan;
  plan.algorithm = Algorithm::tree;
  plan.protocol = protocol;
  const GroupLayout layout = make_layout(topo, op);
  if (layout.ranks.size() < 2) return plan;
  const NcclTuning& t = cfg.tuning;
  const double half =
      op.bytes.as_double() / 2.0 / t.bandwidth_factor(protocol) / t.tree_bandwidth_factor;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> up;  // child -> parent, global ranks
  for (int tree = 0; tree < 2; ++tree) {
    for (const auto& node : layout.nodes) {
      for (std::size_t j = 1; j < node.size(); ++j) {
        up.emplace_back(layout.ranks[node[j]], layout.ranks[node[j - 1]]);
      }
    }
    const std::size_t k = layout.nodes.size();
    for (std::size_t i = 1; i < k; ++i) {
      const std::size_t child = tree == 0 ? i : k - 1 - i;
      const std::size_t parent = tree == 0 ? (i - 1) / 2 : k - 1 - (i - 1) / 2;
      up.emplace_back(layout.ranks[layout.nodes[child][0]], layout.ranks[layout.nodes[parent][0]]);
    }
  }
  std::size_t depth = 0;
  for (std::size_t k = layout.nodes.size(); k > 1; k = (k + 1) / 2) ++depth;
  const double intra = t.hw(LinkClass::nvlink, Algorithm::tree, protocol);
  const double phase_us =
      static_cast<double>(layout.per_node_max() - 1) * intra +
      static_cast<double>(depth) * t.hw(LinkClass::net, Algorithm::tree, protocol);
  Stage reduce;
  reduce.latency = SimTime::from_us(t.base(Algorithm::tree, protocol) + phase_us);
  Stage bcast;
  bcast.latency = SimTime::from_us(phase_us);
  for (const auto& [child, parent] : up) {
    reduce.flows.push_back(FlowSpec{child, parent, half, Segment::full});
    bcast.flows.push_back(FlowSpec{parent, child, half, Segment::full});
  }
  plan.stages.push_back(std::move(reduce));
  plan.stages.push_back(std::move(bcast));
  return plan;
}

}  // namespace moesim::network
