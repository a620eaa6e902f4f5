// FlexMoE's headline claim (FlexMoE abstract): under skewed routing whose popularity drifts over
// iterations, dynamic placement beats DeepSpeed-MoE (paper: 1.70x average) and FasterMoE (1.30x).
// Checked qualitatively: GPT2-S-MoE, dropless (no token is dropped by any strategy, so all do the
// same work; DeepSpeed-MoE then pads every expert to the largest count), 32 experts on 2 x p4de
// (16 A100), routing drift:1.2 (Zipf 1.2 whose ranking drifts each iteration), 20 iterations;
// FlexMoE's placement for iteration i comes from iterations < i and its moves are charged.
// Why 20 iterations (it was 6): FlexMoE pays up front -- iteration 0 has no statistics and runs the
// static placement (about 1.5x FasterMoE here), the next few carry the Expand/Migrate transfers
// (parameters + Adam state, 66 MB each over a 100 Gb/s NIC) -- and wins them back over the
// following iterations: its planner accepts a move only if it pays back within 10 iterations
// (flexmoe.cpp), and the paper re-balances every 50-100 iterations (as SYMI re-ran it). A 6-
// iteration mean is mostly that warm-up (FlexMoE 45.6 ms vs FasterMoE 44.2 ms although every
// re-balanced iteration from the 4th on is faster); 20 iterations is the shortest run in which
// the amortisation the planner assumes has happened, and still runs in about a second.
// Expectation: FlexMoE's mean iteration time is below both; the speedups are printed.
#include <gtest/gtest.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "tests/validation/validation_testbed.hpp"

namespace moesim::validation {
namespace {

TEST(FlexMoeValidation, BeatsDeepSpeedAndFasterMoeUnderDriftingSkew) {
  ModelSpec model = io::load_model("gpt2-s-moe");
  model.experts = 32;
  model.dropless = true;
  model.layers = 4;  // 2 MoE layers keep the test short; every layer is alike
  constexpr std::int64_t kIterations = 20;
  const job::PreparedJob job =
      Testbed("aws-p4de", 2)
          .job(model, "ep=16",
               std::make_shared<const GeneratedRouting>(RoutingDistribution::drift, 1.2, 11),
               kIterations);
  const double ds = Testbed::run(job, "deepspeed-moe").mean_iteration_us();
  const double faster = Testbed::run(job, "fastermoe").mean_iteration_us();
  const job::StrategyResult flex = Testbed::run(job, "flexmoe");
  const double flex_us = flex.mean_iteration_us();
  std::cout << "mean iteration us: deepspeed-moe " << ds << ", fastermoe " << faster << ", flexmoe "
            << flex_us << " (speedup " << ds / flex_us << "x vs deepspeed-moe, " << faster / flex_us
            << "x vs fastermoe)\nflexmoe per iteration:";
  for (double t : flex.iteration_us) std::cout << ' ' << t;
  std::cout << " us\n";
  ::testing::Test::RecordProperty("speedup_vs_deepspeed", std::to_string(ds / flex_us));
  ::testing::Test::RecordProperty("speedup_vs_fastermoe", std::to_string(faster / flex_us));
  EXPECT_LT(flex_us, ds);
  EXPECT_LT(flex_us, faster);
  // Iteration 0 has no statistics (static placement); later ones are re-balanced.
  EXPECT_LT(flex.iteration_us.back(), flex.iteration_us.front());
}

TEST(FlexMoeValidation, AllToAllCostUsesTheNicBoundBandwidth) {
  // p4de: 4 x 100 Gb/s EFA per 8 GPUs, two GPUs behind each NIC. One inter-node transfer alone
  // gets a whole NIC (12.5 GB/s line rate, less the path's overheads); in an all-to-all every GPU
  // sends across at once, so each gets half of its NIC. FlexMoE's T_A2A must use the latter
  // (it once used the former and under-valued balancing the all-to-all by 2x):
  // expect a2a inter / lone inter within [0.45, 0.55] and a2a inter <= 6.25 GB/s.
  ModelSpec model = io::load_model("gpt2-s-moe");
  model.experts = 32;
  model.dropless = true;
  model.layers = 2;
  const auto flex = Testbed::run(
      Testbed("aws-p4de", 2)
          .job(model, "ep=16",
               std::make_shared<const GeneratedRouting>(RoutingDistribution::zipf, 1.2, 11)),
      "flexmoe");
  const auto& d = flex.last.decisions;
  const double a2a_intra = d.at("flexmoe.bandwidth.a2a_intra").number();
  const double a2a_inter = d.at("flexmoe.bandwidth.a2a_inter").number();
  const double lone_inter = d.at("flexmoe.bandwidth.lone_inter").number();
  std::cout << "flexmoe a2a intra " << a2a_intra << " inter " << a2a_inter << " GB/s, lone inter "
            << lone_inter << " GB/s\n";
  EXPECT_GE(a2a_inter / lone_inter, 0.45);
  EXPECT_LE(a2a_inter / lone_inter, 0.55);
  EXPECT_LE(a2a_inter, 6.25);
  EXPECT_GT(a2a_intra, 10 * a2a_inter);  // NVSwitch inside the node
}

}  // namespace
}  // namespace moesim::validation
