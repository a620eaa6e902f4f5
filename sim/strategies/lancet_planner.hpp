// LancetPlanner: the two decision procedures of Lancet (Jiang et al., MLSys 2024,
// arXiv 2404.19429), free of any task graph so they can be checked by hand.
//
// Forward operator partitioning (§5 of the paper): a region of instructions (non-MoE ops before
// the MoE layer, the MoE ops, non-MoE ops after it) is cut into ranges; each range runs split
// into k partitions along the batch dimension and pipelined. P(i, j, k) is the pipelined time of
// instructions [i, j) split into k parts, from Lancet's pipeline scheduler: the instructions of
// each partition form stages (maximal runs of compute or of communication); stages are issued in
// order and, within a stage, partitions in index order; an instruction starts at
//   max(end of its dependency = the previous instruction of its partition,
//       end of the previously issued instruction of the same type)
// and P is the end of the last one. What a partition costs beyond its instructions' own times is
// one PartitionOverhead (below), charged here and by the emission alike. The dynamic program
//   T(j) = min_{i < j} { T(i) + min_{1 <= k <= rho} P(i, j, k) }
// picks the ranges and counts; cuts are only allowed at the given positions (the ends of
// instruction groups), the MoE instructions must lie inside one range (the irregular all-to-all
// cannot be cut), and when the gate forbids partitioning before the MoE layer (Batch-Prioritized
// Routing) a range with k > 1 that holds the MoE must start at its first instruction.
//
// Backward weight-gradient scheduling (§4): a dW op may overlap an all-to-all iff there is no
// directed path between them in the dependency DAG; best_fit_assign() is Alg. 1 (all-to-alls in
// program order, each picks eligible unused dWs by argmin |t_u - t_w| while its remaining gap
// t_u > 0).
// Units: SimTime everywhere (CostModels durations).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/core/sim_time.hpp"

namespace moesim::strategies::lancet {

/// Max partitions rho (Lancet's default; 4 or 2 only on out-of-memory).
constexpr int kMaxPartitions = 8;

struct PipeInstr {
  std::string name;
  bool comm = false;  ///< runs on the communication queue, else on the compute queue
  bool moe = false;   ///< part of the MoE layer (must stay inside one range)
  /// part_time[k - 1] = time of ONE partition when the instruction is split into k (k = 1..rho).
  std::vector<SimTime> part_time;
  /// The same for a compute instruction with a communication instruction beside it all along
  /// (the executor's overlap contention: CostModels::duration_beside_comm), charged for the part
  /// that overlaps (compute::contended_end); empty: part_time.
  std::vector<SimTime> part_time_beside_comm;
};

/// What a partition costs beyond the partitioned times of its instructions. Those times already
/// carry what shrinks less than 1/k when an instruction runs on 1/k of the batch: a launch per
/// kernel per partition, the lower tile efficiency of the smaller GEMMs (both from the compute
/// model on the partition's shape) and a start-up per partitioned collective (the network model
/// on the partition's bytes). What they do not carry is the hand-over between the two queues:
/// each time a partition's instructions pass from the compute queue to the communication queue
/// or back (a stage boundary inside a range), the consuming queue waits on an event recorded by
/// the producing one (cudaEventRecord + cudaStreamWaitEvent), a stream command the GPU front-end
/// processes before the partition's next instruction can launch. `queue_switch` is that wait,
/// on the consuming queue, once per partition per stage boundary; the emission puts a delay task
/// of the same length at the same place, so the plan's estimate and the simulated graph agree.
struct PartitionOverhead {
  SimTime queue_switch = SimTime::zero();
};

/// P(begin, end, k): Lancet's pipeline scheduler over instructions [begin, end) in k partitions.
/// A compute instruction pays the contention for the part of it an exchange of the pipeline
/// overlaps (compute::contended_end). `kernel_total` (if given): the compute instructions' priced
/// times, summed.
SimTime pipeline_time(const std::vector<PipeInstr>& instrs, std::size_t begin, std::size_t end,
                      int k, const PartitionOverhead& overhead = {},
                      SimTime* kernel_total = nullptr);

struct RangeChoice {
  std::size_t begin = 0;
  std::size_t end = 0;
  int partitions = 1;
};

struct PartitionPlan {
  std::vector<RangeChoice> ranges;  ///< consecutive, covering [0, n)
  SimTime time;                     ///< T(n)
};

/// The dynamic program. `cuts` are the allowed range boundaries, increasing, starting at 0 and
/// ending at instrs.size(). Ties keep the smaller k and the earlier cut.
PartitionPlan plan_partitions(const std::vector<PipeInstr>& instrs,
                              const std::vector<std::size_t>& cuts, int max_partitions,
                              bool allow_before_moe, const PartitionOverhead& overhead = {});

/// Nodes of a DAG (succ[v] = successors of v) with no directed path to or from `node` (the node
/// itself excluded).
std::vector<bool> unrelated_to(const std::vector<std::vector<std::size_t>>& succ, std::size_t node);

/// Alg. 1, best-fit greedy. eligible[a][w]: dW w may overlap all-to-all a. Returns, per dW, the
/// index of its all-to-all or -1.
std::vector<int> best_fit_assign(const std::vector<SimTime>& a2a_time,
                                 const std::vector<SimTime>& dw_time,
                                 const std::vector<std::vector<bool>>& eligible);

}  // namespace moesim::strategies::lancet
