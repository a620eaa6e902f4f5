// NVLS all-reduce on an NVSwitch node (NVLink SHARP): the switch reduces and multicasts.
// Reduce-scatter: each GPU's multimem.ld_reduce of its 1/n shard makes the switch read that shard
// from every GPU, so each GPU sends S up and receives S/n; all-gather: each GPU multimem-stores its
// reduced S/n shard, which the switch replicates to all, so each GPU sends S/n and receives S.
// Per GPU link and direction: S (n+1)/n in whole chunk steps (NcclTuning::nvls_link_bytes), moved
// at nvls_efficiency (0.85 on Hopper, NCCL
// tuning.cc nvlsEfficiency) of the link rate. Latency: NCCL's NVLS hw latency, 25 us, plus the
// fixed cost of every chunk of the per-(channel, head) pipelines (NcclTuning::nvls_fixed_us),
// charged before the data moves: while chunks synchronise, the links are not busy with this op.
#include "sim/network/collectives/flow_plan.hpp"

namespace moesim::network {

FlowPlan lower_nvls_all_reduce(const Topology& topo, const CommOp& op,
                               const CollectiveConfig& cfg) {
  FlowPlan plan;
  plan.adds_link_latency = false;  // NCCL's step latencies hold the hops' (flow_plan.hpp)
  plan.algorithm = Algorithm::nvls;
  plan.protocol = Protocol::simple;
  const GroupLayout layout = make_layout(topo, op);
  const std::size_t n = layout.ranks.size();
  if (n < 2) return plan;
  const double wire =
      cfg.tuning.nvls_link_bytes(op.bytes.as_double(), n) / cfg.tuning.nvls_efficiency;
  Stage stage;
  stage.latency = SimTime::from_us(cfg.tuning.nvls_fixed_us(op.bytes.as_double(), n));
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t me = layout.ranks[i];
    const std::uint32_t other = layout.ranks[(i + 1) % n];
    stage.flows.push_back(FlowSpec{me, other, wire, Segment::first_hop});  // GPU -> switch
    stage.flows.push_back(FlowSpec{other, me, wire, Segment::last_hop});   // switch -> GPU
  }
  plan.stages.push_back(std::move(stage));
  return plan;
}

}  // namespace moesim::network
