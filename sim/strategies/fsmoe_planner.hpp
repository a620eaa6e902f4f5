// FSMoE's planner (FSMoE Sec. 4 and 5): the four-case performance model of one pipelined MoE
// layer, Algorithm 1 (the pipeline degree) and adaptive gradient partitioning. Pure arithmetic on
// linear alpha-beta models, so tests can drive it with FSMoE's published fits (Fig. 5) as well as
// with fits made from CostModels.
//
// Overlap contention: the executor slows a kernel that starts while communication runs on its GPU
// (CostModels::duration_beside_comm). The cases price the experts as the chunked pipeline runs
// them (ChunkTimes::exp_total): every chunk after the first beside another chunk's collectives,
// the first alone unless a collective still runs when its dispatch ends. The predicates and the
// closed forms are FSMoE's, on those times. A chunk is priced whole: the executor slows only the
// chunk's kernels that start while the collective beside it lasts (Tutel's OverlapSchedule
// prices kernel by kernel); on the PlannerAgreement contention job the forward estimate is 2.0%
// under the simulated span (3.1% pricing every chunk alone).
//
// Units: every time is in milliseconds (FSMoE's fits read as ms); sizes n are whatever unit the
// matching LinearCost was fitted in (bytes for collectives, tokens for the expert). A per-chunk
// time of r chunks is alpha + (n / r) * beta.
//
// Algorithm 1 differs from the paper in one documented way: instead of SLSQP on each case's
// closed form, each case is minimised by a bounded 1-D search over continuous r in [1, 16] (a
// grid of step 1/16 refined by golden section around the best grid point), keeping only r at
// which that case's predicates hold. The degree is then chosen as FSMoE's tools/optim.py does
// (xpan413/FSMoE, Optimizer.optimize_degree and its check()): each case's continuous optimum
// gives two powers of two <= 8, ceil(r) mapped up and floor(r) mapped down through its lookup
// tables; a candidate counts only where its case still holds at that integer degree, and the
// degree is the candidate with the smallest closed-form time over all cases. (Rounding the
// best continuous optimum instead can cost a lot where that optimum sits on a case boundary:
// a comm-bound case 3 is nearly flat in r, so r* = 1.3 between cases 2 and 3 rounds to 1 while
// r = 2 is 20% faster.)
//
// Which degree gets which rule, as optim.py's Optimizer does it:
//  - forward (`forward_degree`): Algorithm 1 at t_gar = 0, then r = 1 when the un-chunked
//    all-to-all takes < 1 ms (Optimizer.__init__: `if alpha[0] + beta[0] * a[0] < 1: d0 = 1`);
//  - the first MoE backward, which no gradient all-reduce rides in (`first_backward_degree`):
//    Algorithm 1 on the backward costs at t_gar = 0, but r = 1 whenever the forward degree is 1
//    (`if d0 == 1: d1 = 1`), whatever made it 1; optim.py gives d1 to the last layer in forward
//    order (get_optimal_degree prints `degrees + [obj.d1]`);
//  - every other MoE backward: Algorithm 1 with its t_gar and no < 1 ms rule
//    (Optimizer.run: `d, _ = self.optimize_degree(self.gar_time(item))`), so a layer whose
//    forward stays un-chunked because its all-to-all is short may still chunk its backward.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace moesim::strategies::fsmoe {

/// t(n) = alpha_ms + n * beta_ms (per unit of n).
struct LinearCost {
  double alpha_ms = 0.0;
  double beta_ms = 0.0;
  double at(double n) const { return alpha_ms + n * beta_ms; }
  /// g^-1(t): the size whose time is t (0 for t <= alpha).
  double inverse(double t_ms) const;
};

/// Least-squares line through (n, t_ms) samples (>= 2 distinct n). Negative intercepts are
/// clamped to 0 (startup cannot be negative) and the slope refitted through the origin.
LinearCost fit_linear(const std::vector<std::pair<double, double>>& samples);

/// The four operators of one MoE layer direction and their whole (un-chunked) workloads.
struct PipelineCosts {
  LinearCost a2a, ag, rs, exp;
  /// The expert line of a chunk that starts while a collective runs on its GPU (the executor's
  /// overlap contention, CostModels::duration_beside_comm); none: `exp` (FSMoE's own fits).
  std::optional<LinearCost> exp_beside_comm;
  double n_a2a = 0.0, n_ag = 0.0, n_rs = 0.0, n_exp = 0.0;
  /// The A2As and the ESP collectives share one comm stream (fsmoe-no-iio, tutel-improved)
  /// instead of FSMoE's inter- and intra-node streams (IIO).
  bool one_comm_stream = false;
  /// Backward: expert alpha and beta doubled (dX + dW), FSMoE 4.2.
  PipelineCosts backward() const;
};

/// Per-chunk times at (continuous) degree r.
struct ChunkTimes {
  double a2a = 0.0, ag = 0.0, rs = 0.0;
  double exp = 0.0;              ///< one chunk's experts alone on the GPU
  double exp_beside_comm = 0.0;  ///< the same, started beside a collective
  /// The r chunks' experts as the pipeline runs them. Chunk i > 0 starts as chunk i-1 ends (or
  /// as its own dispatch ends, inside a dispatch of a later chunk or a combine of an earlier
  /// one): beside a collective; the executor starts the collective a finished chunk releases
  /// before the next chunk. Chunk 0 starts as its dispatch ends, which releases it before the
  /// next collective of the same stream: alone, unless (IIO, ESP all-gather present) a later
  /// chunk's A2A on the inter-node stream still runs then (t_ag < (r-1) t_a2a) or the gradient
  /// all-reduce that follows the last dispatch does.
  double exp_total = 0.0;
};
ChunkTimes chunk_times(const PipelineCosts& c, double r, double t_gar_ms = 0.0);

/// Which of the four cases holds at r (predicates Q1-Q7), 1..4.
int model_case(const PipelineCosts& c, double r, double t_gar_ms);
/// Closed form of case `which` at r.
double case_time(int which, const PipelineCosts& c, double r, double t_gar_ms);
/// The layer's time at r: the closed form of the case that holds there.
double layer_time(const PipelineCosts& c, double r, double t_gar_ms);

struct DegreeChoice {
  double r_continuous = 1.0;  ///< the bounded 1-D optimum of the chosen degree's case
  int degree = 1;             ///< in {1, 2, 4, 8}
  int model_case = 0;         ///< case at the rounded degree
  double time_ms = 0.0;       ///< layer_time at the rounded degree
};
/// Algorithm 1 (FindOptimalPipelineDegree; optim.py's optimize_degree): no < 1 ms rule.
DegreeChoice find_optimal_degree(const PipelineCosts& c, double t_gar_ms);
/// The forward degree: Algorithm 1 at t_gar = 0, r = 1 when the un-chunked all-to-all of `c`
/// takes < 1 ms (optim.py, Optimizer.__init__'s d0).
DegreeChoice forward_degree(const PipelineCosts& c);
/// The backward degree of a MoE layer with no gradient all-reduce inside (optim.py's d1):
/// Algorithm 1 on `backward` at t_gar = 0, r = 1 when the forward degree is 1.
DegreeChoice first_backward_degree(const PipelineCosts& backward, int forward_degree);
/// Rounding of a continuous degree to the nearest power of two <= 8 ([1,1.5) -> 1,
/// [1.5,3) -> 2, [3,6) -> 4, else 8): the fallback when no case holds at a candidate.
int round_degree(double r);
/// The integer candidates of a continuous degree r (optim.py's check()): ceil(r) mapped up and
/// floor(r) mapped down to a power of two <= 8; one value when they agree.
std::vector<int> power_of_two_neighbours(double r);

/// Overlappable time of a MoE layer at degree r with t_gar = 0 (4.5; 0 in case 1).
double overlappable_moe_ms(const PipelineCosts& c, int r);

/// One generalized layer (a MoE layer and the dense ops after it up to the next MoE layer, seen
/// in backward order: the dense ops run before the MoE layer's backward).
struct GeneralizedLayer {
  PipelineCosts backward;         ///< the MoE layer's backward costs
  double ready_before_bytes = 0;  ///< gradients that become ready before its MoE backward
  double ready_after_bytes = 0;   ///< gradients its MoE backward produces (gate...)
  double dense_overlap_ms = 0;    ///< backward compute after its MoE block (attention ...)
  /// The layer's forward degree (forward_degree); 1 makes its gradient-free backward degree 1
  /// (first_backward_degree). 0: not known, the backward is not tied to it.
  int forward_degree = 0;
};

struct GradientPlan {
  /// Per generalized layer (backward order): bytes all-reduced inside the MoE backward pipeline
  /// (after the last chunk's dispatch) and in the dense slot after the MoE block.
  std::vector<double> in_moe_bytes;
  std::vector<double> dense_bytes;
  /// Bytes left after the whole backward (exposed): 0 once there is a generalized layer, whose
  /// last dense slot takes the remainder.
  double tail_bytes = 0;
  /// Bytes moved by step 2 from the tail into MoE pipelines.
  double step2_moved_bytes = 0;
  /// Backward degree per generalized layer: the first (backward order) with no in-MoE share
  /// first_backward_degree, the others Algorithm 1 with their t_gar (optim.py, Optimizer.run).
  std::vector<int> backward_degree;
  std::vector<int> backward_case;
  /// Planner's estimate of sum_i f_moe^i(t_gar_i) + t_ar(tail).
  double estimate_ms = 0;
};

/// Adaptive gradient partitioning (4.5), in the order of FSMoE's tools/optim.py
/// (docs/fsmoe-optim-comparison.md). Step 1: for each generalized layer in backward order, the
/// gradients ready before its MoE backward fill, oldest first, its dense slot (the backward
/// after the block, dense_overlap_ms) and then its MoE pipeline (overlappable time at the
/// gradient-free backward degree, first_backward_degree: optim.py's get_stored_grad walks
/// [dense, MoE] with t_olps = [others, gap], gap = get_overlap_part(d1)); the gradients the block
/// produces take what the dense slot has left. Step 2 (instead of differential evolution): a
/// deterministic greedy local search that moves the tail in 1/`quanta` pieces, one at a time,
/// into the MoE slot (at or after the piece's ready point) whose f_moe^i grows least, while that
/// growth is at most the tail time it saves (ties move: optim.py keeps the remainder in the MoE
/// pipelines unless differential evolution beats that). What is left then goes to the last
/// dense slot (optim.py: the remainder is all-reduced beside the last attention backward, not
/// after the backward).
GradientPlan partition_gradients(const std::vector<GeneralizedLayer>& layers,
                                 const LinearCost& allreduce, int quanta = 32);

}  // namespace moesim::strategies::fsmoe
