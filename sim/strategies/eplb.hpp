// EPLB: DeepSeek's expert-parallel load balancer (deepseek-ai/EPLB, eplb.py), a reconstruction
// from its public algorithm: redundant experts chosen and placed from per-layer load statistics.
//   balanced_packing   items sorted by weight, heaviest first, each into the lightest pack that
//                      still has room (every pack takes items / packs);
//   replicate_experts  add copies one at a time, each to the expert whose load per copy is the
//                      largest;
//   hierarchical       (groups % nodes == 0): pack expert groups onto nodes (balanced), replicate
//                      inside each node (its share of the physical slots), pack the node's copies
//                      (load / copies each) onto its GPUs (balanced);
//   global             otherwise: the same with one group and one node (copies across all GPUs).
// The loads are the routing model's: the counts of the iterations seen so far
// (TrainingJob::routing_history), or this iteration's when there is no history. For zipf routing
// the popularity of each layer's experts is fixed, so this iteration's counts are its expected
// loads plus sampling noise; for drift and dirichlet (loads change), pass --iterations > 1 so
// that EPLB places from history, as the real one does, and is not told the future.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "sim/workload/expert_placement.hpp"
#include "sim/workload/training_job.hpp"

namespace moesim::strategies {

struct Packing {
  std::vector<std::int64_t> pack;          ///< item -> pack
  std::vector<std::int64_t> rank_in_pack;  ///< item -> position inside its pack
};
/// `weight.size()` must be a multiple of `packs`.
Packing balanced_packing(std::span<const double> weight, std::int64_t packs);

struct Replication {
  std::vector<std::int64_t> physical_to_logical;  ///< size `physical`
  std::vector<std::int64_t> replica_rank;         ///< copy index of each physical expert
  std::vector<std::int64_t> copies;               ///< per logical expert
};
Replication replicate_experts(std::span<const double> weight, std::int64_t physical);

/// One layer: physical expert p (GPU p / (physical / gpus)) -> logical expert, copy index, and
/// copies per logical expert. Hierarchical when groups % nodes == 0, else global.
LayerPlacement rebalance_experts(std::span<const double> weight, std::int64_t physical,
                                 std::int64_t groups, std::int64_t nodes, std::int64_t gpus);

/// Placement of every MoE layer of `job` over one EP group (the EP groups are alike): experts +
/// `redundant` slots (0: one per EP rank), expert groups = the nodes an EP group spans.
/// InputError when the slots do not divide over the EP ranks.
ExpertPlacement eplb_placement_for(const TrainingJob& job, std::int64_t redundant);

}  // namespace moesim::strategies
