// Point-to-point send/recv: one flow from ranks[0] to ranks[1]. NCCL has no tuning-table entry
// for P2P; the latency charged is one Simple ring step of the route's link class.
#include "sim/network/collectives/flow_plan.hpp"

namespace moesim::network {

FlowPlan lower_send_recv(const Topology& topo, const CommOp& op, const CollectiveConfig& cfg) {
  FlowPlan plan;
  plan.adds_link_latency = false;  // NCCL's step latencies hold the hops' (flow_plan.hpp)
  plan.algorithm = Algorithm::direct;
  plan.protocol = Protocol::simple;
  if (op.ranks.size() < 2 || op.ranks[0] == op.ranks[1]) return plan;
  const std::uint32_t a = op.ranks[0].value;
  const std::uint32_t b = op.ranks[1].value;
  Stage stage;
  stage.latency =
      SimTime::from_us(cfg.tuning.hw(link_class(topo, a, b), Algorithm::ring, Protocol::simple));
  stage.flows.push_back(FlowSpec{a, b, op.bytes.as_double(), Segment::full});
  plan.stages.push_back(std::move(stage));
  return plan;
}

}  // namespace moesim::network
