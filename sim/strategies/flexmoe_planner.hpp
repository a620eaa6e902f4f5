// FlexMoE's placement machinery (Nie et al., SIGMOD 2023, arXiv 2304.03946), free of any task
// graph. Reconstruction [R]: the paper's full text was not available; this follows its
// re-implementations.
//
// Positions 0..G-1 are the GPUs of one EP group (the same placement is used in every EP group).
// Each GPU has `slots_per_gpu` vExpert slots; expert e owns n_e >= 1 replicas on distinct GPUs.
// route(): each expert's tokens I_e are split evenly over its replicas (quota split_share(I_e,
// n_e, j)), filled first from the replica's own GPU, then from GPUs of its node, then from
// anywhere (prefer intra-node); in the last two steps the transfer is spread in proportion over
// the replicas' open quotas and the senders' remaining tokens, so no single GPU receives a node's
// whole import or sends its whole export.
// Cost model (T = T_compute + T_A2A + T_sync, per iteration, its Eqs. 5-9 as re-implemented):
//   T_compute = max_g tokens_g * per_token            (per_token = 1/TPS of a vExpert, fwd+bwd)
//               (priced alone: the terms add, compute and exchanges in series, as FlexMoE's
//               MoE block runs them, so no expert kernel starts beside its exchanges)
//   T_A2A     = 4 * max_g [max(out, in)_intra / a2a_bw_intra + max(out, in)_inter / a2a_bw_inter]
//               (dispatch + combine, forward + backward; tokens * token_bytes). The a2a
//               bandwidths are per GPU while every GPU exchanges at once (FlexMoE profiles them on
//               the cluster), not one link's: on p4de two GPUs share each 100 Gb/s NIC, so a GPU
//               gets about half the NIC in an all-to-all but all of it in a lone transfer.
//   T_sync    = sum over experts with n_e > 1 of 2 (n_e - 1) / n_e * |theta_e| / bw
//               (bw = inter-node if the replicas span nodes; Hecate Eq. 2)
// Balance ratio (the trigger): max_g tokens_g / mean_g tokens_g (max/mean, one of the two
// definitions in re-implementations of its Algorithms 1-2).
// Policy maker (Alg. 2, "rob the rich to help the poor"): repeatedly evaluate
//   Expand  the expert with the largest per-replica load onto the least loaded GPU with a free
//           slot (Shrink first: free the coldest replicated expert's replica when no slot is free),
//   Migrate the busiest vExpert of the most loaded GPU to the least loaded GPU with a free slot,
// and take the candidate with the lowest T + (its transfer time) / amortize_iterations while that
// is below the current T. Transfers (Expand, Migrate) move parameters + optimizer state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/core/sim_time.hpp"

namespace moesim::strategies::flexmoe {

struct Placement {
  std::int64_t gpus = 1;
  std::int64_t slots_per_gpu = 1;
  std::vector<std::vector<std::int64_t>> replicas;  ///< [expert] -> GPU positions, increasing

  /// Expert e on GPU e / (E / gpus): the static expert-parallel placement.
  static Placement initial(std::int64_t experts, std::int64_t gpus, std::int64_t slots_per_gpu);
  std::int64_t used(std::int64_t gpu) const;
  bool holds(std::int64_t gpu, std::int64_t expert) const;
  /// Experts on `gpu`, increasing (its vExperts).
  std::vector<std::int64_t> experts_on(std::int64_t gpu) const;
};

enum class MoveKind { expand, shrink, migrate };
std::string_view to_string(MoveKind k);

struct Move {
  MoveKind kind = MoveKind::expand;
  std::int64_t expert = 0;
  std::int64_t from = -1;  ///< source of the copy (expand, migrate) / freed GPU (shrink)
  std::int64_t to = -1;    ///< receiving GPU (expand, migrate); -1 for shrink
};

struct Routed {
  std::vector<std::vector<std::int64_t>> sent;      ///< [src][dst] tokens
  std::vector<std::vector<std::int64_t>> computed;  ///< [gpu][expert] tokens computed there
  std::vector<std::int64_t> load;                   ///< [gpu] tokens computed
};

/// demand[src][e]: tokens GPU src routes to expert e.
Routed route(const std::vector<std::vector<std::int64_t>>& demand, const Placement& placement,
             const std::vector<std::int32_t>& node_of);

double balance_ratio(const Routed& routed);

struct CostParams {
  SimTime per_token;               ///< vExpert compute time per token, forward + backward
  double intra_bytes_per_s = 1.0;  ///< one transfer alone (moves, replica all-reduce)
  double inter_bytes_per_s = 1.0;
  double a2a_intra_bytes_per_s = 1.0;  ///< per GPU, all GPUs of the group exchanging (T_A2A)
  double a2a_inter_bytes_per_s = 1.0;
  std::int64_t token_bytes = 1;
  std::int64_t expert_bytes = 1;  ///< |theta_e| in bytes (gradient all-reduce)
  std::int64_t move_bytes = 1;    ///< parameters + optimizer state moved by expand / migrate
  double amortize_iterations = 10.0;
  std::vector<std::int32_t> node_of;  ///< node of each GPU position
};

struct CostBreakdown {
  SimTime compute, a2a, sync;
  SimTime total() const { return compute + a2a + sync; }
};

CostBreakdown iteration_cost(const std::vector<std::vector<std::int64_t>>& demand,
                             const Placement& placement, const CostParams& params);
SimTime move_time(const std::vector<Move>& moves, const CostParams& params);

struct PolicyResult {
  Placement placement;
  std::vector<Move> moves;
};

/// Alg. 2 (greedy, at most max_steps accepted steps).
PolicyResult make_scheduling_plan(const std::vector<std::vector<std::int64_t>>& demand,
                                  const Placement& start, const CostParams& params,
                                  int max_steps = 64);

}  // namespace moesim::strategies::flexmoe
