// Reduce as NCCL's ring algorithm runs it (NVIDIA/nccl src/device/reduce.h, runRing): on every
// channel a pipelined chain along that channel's ring from the root's successor to the root,
// each GPU adding its buffer as the pipeline passes; the data flows in the ring's direction,
// over every ring hop but the root's own send (see broadcast.cpp for channels and latency).
#include "sim/network/collectives/flow_plan.hpp"

namespace moesim::network {

FlowPlan chain_plan(const Topology& topo, const CommOp& op, const CollectiveConfig& cfg,
                    Protocol protocol, bool toward_root);

FlowPlan lower_reduce(const Topology& topo, const CommOp& op, const CollectiveConfig& cfg,
                      Protocol protocol) {
  return chain_plan(topo, op, cfg, protocol, true);
}

}  // namespace moesim::network
