// Broadcast as NCCL's ring algorithm runs it: a pipelined chain from the root along the ring
// order. Pipelined, every chain link carries the whole buffer at once, so one stage holds all
// n-1 hops; latency = base + (n-1) ring steps.
#include <unordered_set>

#include "sim/network/collectives/flow_plan.hpp"
#include "sim/network/gpu_generation.hpp"

namespace moesim::network {

namespace {
std::vector<std::uint32_t> chain_from_root(const GroupLayout& layout, RankId root) {
  std::size_t start = 0;
  for (std::size_t i = 0; i < layout.ranks.size(); ++i) {
    if (layout.ranks[i] == root.value) start = i;
  }
  std::vector<std::uint32_t> chain;
  for (std::size_t i = 0; i < layout.ranks.size(); ++i) {
    chain.push_back(layout.ranks[(start + i) % layout.ranks.size()]);
  }
  return chain;
}
}  // namespace

FlowPlan chain_plan(const Topology& topo, const CommOp& op, const CollectiveConfig& cfg,
                    Protocol protocol, bool toward_root) {
  FlowPlan plan;
  plan.adds_link_latency = false;  // NCCL's step latencies hold the hops' (flow_plan.hpp)
  plan.algorithm = Algorithm::ring;
  plan.protocol = protocol;
  const GroupLayout layout = make_layout(topo, op);
  if (layout.ranks.size() < 2) return plan;
  const std::vector<std::uint32_t> chain = chain_from_root(layout, op.root);
  const NcclTuning& t = cfg.tuning;
  const double wire = op.bytes.as_double() / t.bandwidth_factor(protocol);
  Stage stage;
  double lat = t.base(Algorithm::ring, protocol);
  const std::unordered_set<std::uint32_t> members(layout.ranks.begin(), layout.ranks.end());
  for (std::size_t i = 0; i + 1 < chain.size(); ++i) {
    lat += t.hw(link_class(topo, chain[i], chain[i + 1]), Algorithm::ring, protocol);
    // A hop between nodes stays on the receiver's rail, as a ring's (ring_hop_flows).
    if (toward_root) {
      ring_hop_flows(topo, members, cfg.pxn, chain[i + 1], chain[i], wire, stage.flows);
    } else {
      ring_hop_flows(topo, members, cfg.pxn, chain[i], chain[i + 1], wire, stage.flows);
    }
  }
  stage.latency = SimTime::from_us(lat);
  // Under LL the chain moves the buffer no faster than NCCL's LL ceiling, as the argmin prices
  // it (S / min(link rate x 0.5, llMaxBw)).
  stage.min_transfer = t.protocol_min_transfer(protocol, nccl_gpu_generation(topo.gpu_model()),
                                               layout.nodes_spanned(), op.bytes.as_double());
  plan.stages.push_back(std::move(stage));
  return plan;
}

FlowPlan lower_broadcast(const Topology& topo, const CommOp& op, const CollectiveConfig& cfg,
                         Protocol protocol) {
  return chain_plan(topo, op, cfg, protocol, false);
}

}  // namespace moesim::network
