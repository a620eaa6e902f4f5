// DeepEP-style node-relayed all-to-all (CommOp::relay, comm_op.hpp NodeRelayExchange): one flow
// per (source, destination node) over the network to the source's rail peer there, and the
// NVLink flows that fan the tokens out inside every node (relays forwarding, same-node sources
// sending directly). The NVLink flows carry their bytes times deepep_nvlink_wire_factor, so
// they move at the rate DeepEP's kernels reach (deepep_nvlink_rate.hpp), not at NCCL's.
// DeepEP's normal kernels pipeline the two legs (RDMA chunks are forwarded over NVLink as they
// arrive), so every flow runs in one stage and shares its links with all other traffic; the
// time is max(network leg, NVLink leg), the cost sketch of DeepEP's design.
// Hybrid-EP (op.relay->chunk_rounds > 0) also pays the drain of its chunked pipeline, added to
// the stage latency by lower_collective (hybrid_ep_pipeline.hpp).
// Latency: one Simple step of the slowest link class crossed (the notify/handshake round).
#include "sim/network/collectives/deepep_nvlink_rate.hpp"
#include "sim/network/collectives/flow_plan.hpp"

namespace moesim::network {

FlowPlan lower_node_relay_all_to_all(const Topology& topo, const CommOp& op,
                                     const CollectiveConfig& cfg) {
  FlowPlan plan;
  plan.adds_link_latency = false;  // NCCL's step latencies hold the hops' (flow_plan.hpp)
  plan.algorithm = Algorithm::node_relay;
  plan.protocol = Protocol::simple;
  const std::size_t n = op.ranks.size();
  if (n < 2 || !op.relay) return plan;
  const NodeRelayExchange& x = *op.relay;
  Stage stage;
  bool crosses_nodes = false;
  for (std::size_t j = 0; j < n; ++j) {
    for (std::size_t i = 0; i < n; ++i) {
      if (i == j) continue;
      const auto net = static_cast<double>(x.network.at(i, j));
      if (net > 0) {
        stage.flows.push_back(FlowSpec{op.ranks[i].value, op.ranks[j].value, net, Segment::full});
        crosses_nodes = true;
      }
      const auto local = static_cast<double>(x.local.at(i, j));
      if (local > 0) {
        const double wire = local * deepep_nvlink_wire_factor(topo, op.ranks[i], op.ranks[j]);
        stage.flows.push_back(FlowSpec{op.ranks[i].value, op.ranks[j].value, wire, Segment::full});
      }
    }
  }
  const LinkClass c =
      crosses_nodes ? LinkClass::net : link_class(topo, op.ranks[0].value, op.ranks[1].value);
  stage.latency = SimTime::from_us(cfg.tuning.hw(c, Algorithm::ring, Protocol::simple));
  plan.stages.push_back(std::move(stage));
  return plan;
}

}  // namespace moesim::network
