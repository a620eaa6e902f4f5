// Reduce as NCCL's ring algorithm runs it: the broadcast chain reversed, data flowing toward the
// root, each GPU adding its buffer as the pipeline passes (see broadcast.cpp).
#include "sim/network/collectives/flow_plan.hpp"

namespace moesim::network {

FlowPlan chain_plan(const Topology& topo, const CommOp& op, const CollectiveConfig& cfg,
                    Protocol protocol, bool toward_root);

FlowPlan lower_reduce(const Topology& topo, const CommOp& op, const CollectiveConfig& cfg,
                      Protocol protocol) {
  return chain_plan(topo, op, cfg, protocol, true);
}

}  // namespace moesim::network
