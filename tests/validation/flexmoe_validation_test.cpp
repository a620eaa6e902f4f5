// FlexMoE's cost model sees the bandwidth an all-to-all really gets (FlexMoE, SIGMOD 2023: T_A2A
// from the token matrix and per-link bandwidth). Its published speedups and rebalancing cost are
// claims with two-sided bands (traces/reference/claims/flexmoe-*.json).
#include <gtest/gtest.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "tests/validation/validation_testbed.hpp"

namespace moesim::validation {
namespace {

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
