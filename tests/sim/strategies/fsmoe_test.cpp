// FSMoE planner and schedule: hand-checked properties (FSMoE Sec. 4-5).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "sim/strategies/fsmoe_planner.hpp"

namespace moesim::strategies::fsmoe {
namespace {

// FSMoE's published Testbed-B fits (Fig. 5): alpha ms, beta ms per unit. A simple FFN has two
// identical GEMMs: alpha_exp = 2 alpha_gemm, beta_exp = 2 beta_gemm.
PipelineCosts testbed_b(double n_a2a, double n_ag, double n_exp) {
  PipelineCosts c;
  c.a2a = {1.75e-1, 3.06e-7};
  c.ag = {3.20e-2, 1.68e-7};
  c.rs = {3.91e-2, 1.67e-7};
  c.exp = {2 * 9.24e-2, 2 * 4.42e-11};
  c.n_a2a = n_a2a;
  c.n_ag = c.n_rs = n_ag;
  c.n_exp = n_exp;
  return c;
}

TEST(FsmoePlanner, FitLinearRecoversALine) {
  // t = 0.5 + 2n at n = 1, 2, 4: exact.
  const LinearCost f = fit_linear({{1, 2.5}, {2, 4.5}, {4, 8.5}});
  EXPECT_NEAR(f.alpha_ms, 0.5, 1e-12);
  EXPECT_NEAR(f.beta_ms, 2.0, 1e-12);
  EXPECT_NEAR(f.inverse(8.5), 4.0, 1e-12);
}

TEST(FsmoePlanner, ComputeBoundForwardAndBackwardDegreesDiffer) {
  // No ESP collective, A2A n*beta = 2^24 * 3.06e-7 = 5.134 ms, expert n*beta = 100 ms.
  // Case 2: t2 = 2 alpha_a2a + 2 n beta_a2a / r + r alpha_exp + n_exp beta_exp, minimised at
  // r* = sqrt(2 n beta_a2a / alpha_exp) = sqrt(10.267 / 0.1848) = 7.45 -> rounds to 8.
  // Backward doubles alpha_exp: r* = sqrt(10.267 / 0.3696) = 5.27 -> rounds to 4.
  const double n = 16777216.0;
  const PipelineCosts fwd = testbed_b(n, 0.0, 100.0 / 8.84e-11);
  const DegreeChoice f = find_optimal_degree(fwd, 0.0);
  EXPECT_NEAR(f.r_continuous, 7.45, 0.02);
  EXPECT_EQ(f.degree, 8);
  EXPECT_EQ(f.model_case, 2);
  const DegreeChoice b = find_optimal_degree(fwd.backward(), 0.0);
  EXPECT_NEAR(b.r_continuous, 5.27, 0.02);
  EXPECT_EQ(b.degree, 4);
  // The closed form at r = 8: 2*0.175 + 2*5.134/8 + 8*0.1848 + 100 = 103.112 ms.
  EXPECT_NEAR(f.time_ms, 0.35 + 10.2677 / 8 + 8 * 0.1848 + 100.0, 1e-3);
}

TEST(FsmoePlanner, CommBoundPicksOneChunk) {
  // Tiny expert work, no ESP: case 3, t3 = 2 r alpha_a2a + 2 n beta_a2a grows with r -> r = 1.
  const PipelineCosts c = testbed_b(16777216.0, 0.0, 1000.0);
  EXPECT_EQ(model_case(c, 2.0, 0.0), 3);
  const DegreeChoice d = find_optimal_degree(c, 0.0);
  EXPECT_EQ(d.degree, 1);
  EXPECT_NEAR(d.time_ms, case_time(d.model_case, c, 1.0, 0.0), 1e-12);
}

TEST(FsmoePlanner, SmallAllToAllKeepsTheForwardAtOneChunk) {
  // No ESP; un-chunked A2A 0.175 + 0.7 = 0.875 ms < 1 ms; experts 0.1848 + 100 ms forward.
  // Algorithm 1 alone: case 2, t2 = 0.35 + 1.4 / r + 0.1848 r + 100, r* = sqrt(1.4 / 0.1848) =
  // 2.75 -> candidates 2 (101.4196 ms) and 4 (101.4392 ms) -> 2. optim.py's forward rule
  // (Optimizer.__init__) makes it 1 because the all-to-all is under 1 ms.
  const PipelineCosts c = testbed_b(0.7 / 3.06e-7, 0.0, 100.0 / 8.84e-11);
  EXPECT_EQ(find_optimal_degree(c, 0.0).degree, 2);
  const DegreeChoice f = forward_degree(c);
  EXPECT_EQ(f.degree, 1);
  EXPECT_EQ(f.model_case, 2);
  EXPECT_NEAR(f.time_ms, 0.35 + 1.4 + 0.1848 + 100.0, 1e-6);
}

TEST(FsmoePlanner, BackwardTiesOnlyItsGradientFreeLayerToAOneChunkForward) {
  // The costs above, backward (alpha_exp 0.3696, 200 ms): case 2, r* = sqrt(1.4 / 0.3696) =
  // 1.95 -> candidates 1 (0.35 + 1.4 + 0.3696 + 200 = 202.1196 ms) and 2 (0.35 + 0.7 + 0.7392
  // + 200 = 201.7892 ms) -> 2. optim.py: the layer without a gradient share (d1) keeps r = 1
  // when the forward is 1; a layer with a share (Optimizer.run) is Algorithm 1 on its t_gar, no
  // < 1 ms rule.
  const PipelineCosts bwd = testbed_b(0.7 / 3.06e-7, 0.0, 100.0 / 8.84e-11).backward();
  EXPECT_EQ(first_backward_degree(bwd, 1).degree, 1);
  EXPECT_EQ(first_backward_degree(bwd, 2).degree, 2);
  EXPECT_EQ(find_optimal_degree(bwd, 0.5).degree, 2);
  EXPECT_NEAR(find_optimal_degree(bwd, 0.5).time_ms, 201.7892, 1e-6);

  // Two generalized layers with these costs, forward degree 1 each (backward order: L1 first,
  // then L0). L1 gets nothing to all-reduce inside its MoE backward: r = 1 (d1). 2e6 bytes
  // ready before L0's MoE backward (all-reduce 0.5 ms + 1e-6 ms/B = 2.5 ms): L0's dense slot
  // (1 ms, holds 0.5e6 bytes) first, the other 1.5e6 (2 ms) in its MoE pipeline, whose
  // overlappable time at r = 1 is the expert backward and far larger. L0 then takes r = 2.
  GeneralizedLayer l1;
  l1.backward = bwd;
  l1.forward_degree = 1;
  GeneralizedLayer l0 = l1;
  l0.ready_before_bytes = 2e6;
  l0.dense_overlap_ms = 1.0;
  const GradientPlan p = partition_gradients({l1, l0}, LinearCost{0.5, 1e-6});
  EXPECT_NEAR(p.in_moe_bytes[0], 0.0, 1e-9);
  EXPECT_NEAR(p.dense_bytes[1], 0.5e6, 1e-3);
  EXPECT_NEAR(p.in_moe_bytes[1], 1.5e6, 1e-3);
  EXPECT_EQ(p.backward_degree[0], 1);
  EXPECT_EQ(p.backward_degree[1], 2);
}

// A compute-bound layer without ESP whose forward and gradient-free backward both take r = 8:
// A2A 0.175 + 10 ms, experts 0.1848 + 30 ms forward (0.3696 + 60 ms backward). Case 2 holds at
// every r in [1, 16] at t_gar = 0; forward r* = sqrt(20 / 0.1848) = 10.4 -> 8; backward r* =
// sqrt(20 / 0.3696) = 7.36 -> candidates 4 (66.8284 ms) and 8 (0.35 + 2.5 + 2.9568 + 60 =
// 65.8068 ms) -> 8.
PipelineCosts compute_bound_r8() { return testbed_b(10.0 / 3.06e-7, 0.0, 30.0 / 8.84e-11); }

TEST(FsmoePlanner, AllReduceShareTheExpertsHideKeepsTheBackwardDegree) {
  const PipelineCosts c = compute_bound_r8();
  EXPECT_EQ(forward_degree(c).degree, 8);
  EXPECT_EQ(find_optimal_degree(c.backward(), 0.0).degree, 8);
  // t_gar = 30 ms: case 2 needs t_gar <= r t_exp - 2 (r-1) t_a2a, which is 43.0 ms at r = 8
  // (62.9568 - 14 * 1.425) and at least 41 ms on [1, 16]: the share hides behind the experts
  // and the degree and time stay.
  const DegreeChoice d = find_optimal_degree(c.backward(), 30.0);
  EXPECT_EQ(d.degree, 8);
  EXPECT_EQ(d.model_case, 2);
  EXPECT_NEAR(d.time_ms, 65.8068, 1e-6);
}

TEST(FsmoePlanner, AllReduceShareBeyondTheExpertSlackMovesTheBackwardDegree) {
  // t_gar = 50 ms: case 2 holds only up to r = 2.08 (where r t_exp - 2 (r-1) t_a2a falls to
  // 50); beyond it case 1, 2 r t_a2a + t_gar = 70 + 0.35 r. Case 2's optimum sits on the
  // boundary: candidates 2 (case 2, 0.35 + 10 + 0.7392 + 60 = 71.0892 ms) and 4 (case 1 there,
  // not case 2); case 1's: 2 (case 2 there) and 4 (case 1, 71.4 ms). The backward takes r = 2
  // while its forward runs 8 chunks.
  const DegreeChoice d = find_optimal_degree(compute_bound_r8().backward(), 50.0);
  EXPECT_NEAR(d.r_continuous, 2.0813, 1e-3);
  EXPECT_EQ(d.degree, 2);
  EXPECT_EQ(d.model_case, 2);
  EXPECT_NEAR(d.time_ms, 71.0892, 1e-6);
  EXPECT_EQ(model_case(compute_bound_r8().backward(), 4.0, 50.0), 1);
  EXPECT_NEAR(layer_time(compute_bound_r8().backward(), 4.0, 50.0), 71.4, 1e-6);
}

TEST(FsmoePlanner, GradientsReadyBeforeAMoeBackwardFillItsDenseSlotFirst) {
  // optim.py's get_stored_grad walks [dense, MoE] per layer: 4e6 bytes ready before L0's MoE
  // backward (0.5 + 4 = 4.5 ms); its dense slot (2.5 ms) takes g^-1(2.5) = 2e6, the MoE
  // pipeline (r = 8, 43.0 ms overlappable) the other 2e6 (t_gar = 2.5 ms, case 2 still).
  GeneralizedLayer l1;
  l1.backward = compute_bound_r8().backward();
  l1.forward_degree = 8;
  GeneralizedLayer l0 = l1;
  l0.ready_before_bytes = 4e6;
  l0.dense_overlap_ms = 2.5;
  const GradientPlan p = partition_gradients({l1, l0}, LinearCost{0.5, 1e-6});
  EXPECT_NEAR(p.dense_bytes[1], 2e6, 1e-3);
  EXPECT_NEAR(p.in_moe_bytes[1], 2e6, 1e-3);
  EXPECT_EQ(p.backward_degree[0], 8);
  EXPECT_EQ(p.backward_degree[1], 8);
  EXPECT_EQ(p.backward_case[1], 2);
}

TEST(FsmoePlanner, DegreeIsTheBestPowerOfTwoCandidateWithPublishedFits) {
  // For a few Testbed-B shapes: the degree is a power-of-two neighbour of its case's continuous
  // optimum, the time is the piecewise closed form there, and it is never slower than rounding
  // the best continuous degree of a dense scan of the piecewise closed form.
  for (const double n_a2a : {4e6, 16e6, 64e6}) {
    for (const double ratio : {0.5, 2.0, 8.0}) {
      for (const double gar : {0.0, 5.0}) {
        const PipelineCosts c = testbed_b(n_a2a, ratio * n_a2a, ratio * 5e11 * n_a2a / 16e6);
        double best = 1e300, best_r = 1;
        for (double r = 1; r <= 16; r += 1.0 / 1024) {
          const double t = layer_time(c, r, gar);
          if (t < best) {
            best = t;
            best_r = r;
          }
        }
        const DegreeChoice d = find_optimal_degree(c, gar);
        const std::vector<int> near = power_of_two_neighbours(d.r_continuous);
        EXPECT_NE(std::find(near.begin(), near.end(), d.degree), near.end())
            << n_a2a << " " << ratio << " " << gar;
        EXPECT_NEAR(d.time_ms, layer_time(c, d.degree, gar), 1e-9);
        EXPECT_LE(d.time_ms, layer_time(c, round_degree(best_r), gar) + 1e-9)
            << n_a2a << " " << ratio << " " << gar;
        EXPECT_GE(d.time_ms, best - 1e-9);
      }
    }
  }
}

TEST(FsmoePlanner, PowerOfTwoNeighboursFollowOptimLookupTables) {
  EXPECT_EQ(power_of_two_neighbours(1.0), std::vector<int>{1});
  EXPECT_EQ(power_of_two_neighbours(1.3), (std::vector<int>{1, 2}));
  EXPECT_EQ(power_of_two_neighbours(2.5), (std::vector<int>{2, 4}));
  EXPECT_EQ(power_of_two_neighbours(3.0), (std::vector<int>{2, 4}));
  EXPECT_EQ(power_of_two_neighbours(5.5), (std::vector<int>{4, 8}));
  EXPECT_EQ(power_of_two_neighbours(12.0), std::vector<int>{8});
}

TEST(FsmoePlanner, OptimumOnACaseBoundaryTakesTheFasterNeighbour) {
  // One comm line (A2A with its all-gather folded in, as fsmoe-no-iio plans): 0.08 ms +
  // 9.9e-7 ms/B over 16.8 MB = 16.7 ms per direction; experts 0.222 + 4e-4 ms/token over 16416
  // tokens = 6.79 ms. Case 2 (2 t_a2a + r t_exp) holds up to r ~ 1.26, case 3 (2 r t_a2a) from
  // there on, nearly flat (2 r alpha + 2 n beta): the continuous optimum is r ~ 1.26 with about
  // 33.4 ms. Rounding it gives r = 1 (case 2: 33.4 + 6.8 = 40.2 ms); r = 2 costs 33.6 ms.
  PipelineCosts c;
  c.a2a = {0.08, 9.9e-7};
  c.exp = {0.222, 4e-4};
  c.n_a2a = 16.8e6;
  c.n_exp = 16416;
  const DegreeChoice d = find_optimal_degree(c, 0.0);
  EXPECT_EQ(round_degree(d.r_continuous), 1);
  EXPECT_EQ(d.degree, 2);
  EXPECT_EQ(d.model_case, 3);
  EXPECT_NEAR(d.time_ms, 4 * 0.08 + 2 * 16.8e6 * 9.9e-7, 1e-6);
  EXPECT_LT(d.time_ms, 0.85 * layer_time(c, 1.0, 0.0));
}

TEST(FsmoePlanner, CasesPartitionThePredicateSpace) {
  // Case 1 needs t_gar large: with t_gar = 1000 ms any configuration is case 1 and costs
  // 2 r t_a2a + t_gar.
  const PipelineCosts c = testbed_b(16e6, 32e6, 1e12);
  EXPECT_EQ(model_case(c, 4.0, 1000.0), 1);
  const ChunkTimes t = chunk_times(c, 4.0);
  EXPECT_NEAR(layer_time(c, 4.0, 1000.0), 8 * t.a2a + 1000.0, 1e-9);
}

TEST(FsmoePlanner, ARemainderThePipelineCannotHideStaysInIt) {
  // Comm-bound backward with ESP: t_a2a = 0.175 + 4.896 / r, AG/RS 0.368 / 0.3731 ms whole,
  // experts ~ 0.3696 ms a chunk. At t_gar = 0: r = 1 case 2 (11.2527 ms), r = 2 case 3 (10.492
  // + 0.2 + 0.2061 = 10.898 ms) -> 2, overlappable AG + RS = 0.4061 ms. 3e6 bytes ready before
  // L0's MoE backward, no dense slot, all-reduce 0.1 ms + 1e-6 ms/B: step 1 puts 0.3061e6 in
  // the pipeline, and each further piece costs the pipeline (case 1, 2 r t_a2a + t_gar) what it
  // saves the tail, or less: optim.py keeps such a remainder in the pipeline, so all 3e6 go in
  // (t_gar 3.1 ms) and the backward takes r = 1, case 1: 2 * 5.071 + 3.1 = 13.242 ms.
  GeneralizedLayer l1;
  l1.backward = testbed_b(16e6, 2e6, 1000.0).backward();
  l1.forward_degree = 2;
  GeneralizedLayer l0 = l1;
  l0.ready_before_bytes = 3e6;
  EXPECT_EQ(first_backward_degree(l1.backward, 2).degree, 2);
  const GradientPlan p = partition_gradients({l1, l0}, LinearCost{0.1, 1e-6});
  EXPECT_NEAR(p.in_moe_bytes[1], 3e6, 1e-3);
  EXPECT_NEAR(p.dense_bytes[1], 0.0, 1e-9);
  EXPECT_EQ(p.backward_degree[0], 2);
  EXPECT_EQ(p.backward_degree[1], 1);
  EXPECT_EQ(p.backward_case[1], 1);
  const double t_a2a = 0.175 + 16e6 * 3.06e-7;
  EXPECT_NEAR(p.estimate_ms, 2 * t_a2a + 3.1 + 2 * 2 * (0.175 + 8e6 * 3.06e-7) + 0.2 + 0.2061,
              1e-3);
}

TEST(FsmoePlanner, GreedyFillThenTail) {
  // One layer, all-reduce 1 ms + 1e-6 ms/byte. Dense slot overlaps 3 ms -> g^-1(3) = 2e6 bytes.
  // The MoE layer: case 3 with AG+RS time = overlappable. 5e6 bytes ready after the MoE block:
  // dense slot takes 2e6, 3e6 remain; step 2 may move pieces into... no MoE slot after them.
  // The remainder joins the last dense slot (optim.py), exposed beyond its 3 ms: 1 + 5 - 3 ms.
  GeneralizedLayer g;
  g.backward = testbed_b(16e6, 0.0, 1000.0);
  g.ready_after_bytes = 5e6;
  g.dense_overlap_ms = 3.0;
  const LinearCost ar{1.0, 1e-6};
  const GradientPlan p = partition_gradients({g}, ar);
  EXPECT_NEAR(p.in_moe_bytes[0], 0.0, 1e-6);
  EXPECT_NEAR(p.dense_bytes[0], 5e6, 1e-3);
  EXPECT_NEAR(p.tail_bytes, 0.0, 1e-9);
  EXPECT_NEAR(p.estimate_ms,
              3.0 + case_time(p.backward_case[0], g.backward, p.backward_degree[0], 0.0), 1e-6);
}

TEST(FsmoePlanner, StepTwoMovesTailIntoMoePipelineWhenCheaper) {
  // Layer 0 produces 10e6 bytes of gradient (ready after its MoE), no dense overlap; layer 1's
  // MoE backward is compute-bound (case 2 at r=4 with ~100 ms expert) so its inter-node stream
  // idles for most of the layer: step 1 fills its overlappable time. Everything fits: no tail.
  GeneralizedLayer a;
  a.backward = testbed_b(16777216.0, 0.0, 1000.0);
  a.ready_after_bytes = 10e6;
  GeneralizedLayer b;
  b.backward = testbed_b(16777216.0, 0.0, 50.0 / 8.84e-11);
  const LinearCost ar{0.5, 1e-6};
  const GradientPlan p = partition_gradients({a, b}, ar);
  EXPECT_NEAR(p.in_moe_bytes[1], 10e6, 1e-3);
  EXPECT_NEAR(p.tail_bytes, 0.0, 1e-6);
  // t_gar = 0.5 + 10 = 10.5 ms < overlappable -> layer 1 still case 2, degree unchanged.
  EXPECT_EQ(p.backward_case[1], 2);
}

}  // namespace
}  // namespace moesim::strategies::fsmoe
