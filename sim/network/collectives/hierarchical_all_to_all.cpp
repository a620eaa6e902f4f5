// Hierarchical (2D) all-to-all: stage 1 inside each node, every GPU sends to its local peer j
// everything destined to GPUs of local rank j (on any node); stage 2, GPUs of the same local rank
// exchange across nodes the aggregated blocks (one message per node pair instead of g^2). Works
// for all_to_all and all_to_all_v (blocks summed from the matrix). Needs the same number of group
// members on every node; otherwise falls back to the direct algorithm.
// Not an NCCL algorithm: ncclAllToAll / all_to_all_single is a grouped send/recv per peer
// (all_to_all.cpp, with PXN's aggregation at the rail proxy), so the automatic choice never
// lowers to this; only CollectiveConfig::Choice::hierarchical does (`moesim collective --algo
// hierarchical`), to price a 2D exchange as a what-if. Tutel's 2DH, which a real system does
// run, is emitted by the Tutel strategy itself as two all-to-alls (sim/strategies/tutel.cpp).
#include <map>

#include "sim/network/collectives/flow_plan.hpp"
#include "sim/network/nccl_cost_model.hpp"
#include "sim/workload/collective_traits.hpp"

namespace moesim::network {

FlowPlan lower_hierarchical_all_to_all(const Topology& topo, const CommOp& op,
                                       const CollectiveConfig& cfg) {
  const GroupLayout layout = make_layout(topo, op);
  const std::size_t n = layout.ranks.size();
  const std::size_t nodes = layout.nodes_spanned();
  const std::size_t g = layout.per_node_max();
  for (const auto& node : layout.nodes) {
    if (node.size() != g) return lower_all_to_all(topo, op, cfg);
  }
  if (n < 2 || nodes < 2 || g < 2) return lower_all_to_all(topo, op, cfg);
  FlowPlan plan;
  plan.adds_link_latency = false;  // NCCL's step latencies hold the hops' (flow_plan.hpp)
  plan.algorithm = Algorithm::hierarchical;
  plan.protocol = Protocol::simple;
  const bool v = traits_of(op.kind).size == SizeConvention::matrix;
  const double each = op.bytes.as_double() / static_cast<double>(n);
  auto bytes = [&](std::size_t i, std::size_t j) {
    return v ? static_cast<double>(op.matrix->at(i, j)) : each;
  };
  // Position of (node a, local j) in the group.
  auto pos = [&](std::size_t a, std::size_t j) { return layout.nodes[a][j]; };
  const NcclTuning& t = cfg.tuning;
  Stage intra;
  intra.latency = SimTime::from_us(t.hw(LinkClass::nvlink, Algorithm::ring, Protocol::simple));
  Stage inter;
  // Stage 2 posts one network p2p operation per other node (exchange_posting_us).
  inter.latency = SimTime::from_us(t.hw(LinkClass::net, Algorithm::ring, Protocol::simple) +
                                   exchange_posting_us(topo, op, t, true));
  for (std::size_t a = 0; a < nodes; ++a) {
    for (std::size_t i = 0; i < g; ++i) {
      for (std::size_t j = 0; j < g; ++j) {
        if (i == j) continue;
        // GPU (a,i) forwards to (a,j) all it has for local rank j anywhere (node a included).
        double sum = 0;
        for (std::size_t b = 0; b < nodes; ++b) sum += bytes(pos(a, i), pos(b, j));
        if (sum > 0) {
          intra.flows.push_back(
              FlowSpec{layout.ranks[pos(a, i)], layout.ranks[pos(a, j)], sum, Segment::full});
        }
      }
    }
  }
  for (std::size_t a = 0; a < nodes; ++a) {
    for (std::size_t b = 0; b < nodes; ++b) {
      if (a == b) continue;
      for (std::size_t j = 0; j < g; ++j) {
        // (a,j) now holds, for (b,j), the blocks of every GPU of node a.
        double sum = 0;
        for (std::size_t i = 0; i < g; ++i) sum += bytes(pos(a, i), pos(b, j));
        if (sum > 0) {
          inter.flows.push_back(
              FlowSpec{layout.ranks[pos(a, j)], layout.ranks[pos(b, j)], sum, Segment::full});
        }
      }
    }
  }
  plan.stages.push_back(std::move(intra));
  plan.stages.push_back(std::move(inter));
  return plan;
}

}  // namespace moesim::network
