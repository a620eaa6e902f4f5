// Parm's headline claim (Parm abstract: 1.13x-5.77x over DeepSpeed-MoE on 1296 configured MoE
// layers, an 8-GPU server and a 32-GPU cluster) on a Parm-style MP+EP+ESP grid: every layer
// configuration of B, L, M, H, E, k, f on an 8-GPU A6000 node (tp = esp = 4, ep = 2) and on 4
// nodes of 8 PCIe 3.0 GPUs with one 100 Gb/s NIC each (tp = esp = 8, ep = 4). Checked: Parm
// beats deepspeed-moe on every configuration, by about 1.1x at least and several x at most, and
// its alpha-beta choice between S1 and S2 is (close to) the faster of the two.
// The sweep file traces/grids/parm-mp-ep-esp.json holds a larger grid of the same kind.
#include <gtest/gtest.h>

#include <iostream>

#include "tests/validation/validation_testbed.hpp"

namespace moesim::validation {
namespace {

struct GridResult {
  SpeedupStats parm;    // parm over deepspeed-moe
  SpeedupStats s1, s2;  // forced schedules over deepspeed-moe
  std::size_t s2_picked = 0;
  std::size_t configs = 0;
  std::size_t close_to_best = 0;  // parm within 2% of min(S1, S2)
  double parm_total_us = 0, best_total_us = 0;
};

// One MoE transformer layer (attention + MoE), fp16, 16 heads.
ModelSpec layer(std::int64_t b, std::int64_t l, std::int64_t m, std::int64_t h, std::int64_t e,
                std::int64_t k, double f) {
  ModelSpec s;
  s.name = "parm-grid-layer";
  s.layers = 1;
  s.moe_layers = MoeLayers::every;
  s.hidden = m;
  s.ffn_hidden = 4 * m;
  s.expert_ffn_hidden = h;
  s.heads = s.kv_heads = 16;
  s.seq_len = l;
  s.micro_batch = b;
  s.experts = e;
  s.top_k = k;
  s.capacity_factor = f;
  s.dtype = DType::fp16;
  return s;
}

GridResult run_grid(const Testbed& bed, const std::string& parallel) {
  GridResult g;
  // Values in the range of the same group's FSMoE grid (FSMoE Sec. 6, Table 4); Parm's own grid
  // values are not in the public record.
  for (std::int64_t b : {1, 4}) {
    for (std::int64_t l : {512, 1024}) {
      for (std::int64_t m : {1024, 2048}) {
        for (std::int64_t hm : {2, 4}) {
          for (std::int64_t e : {8, 16}) {
            for (std::int64_t k : {1, 2}) {
              for (double f : {1.2, 2.4}) {
                const job::PreparedJob job = bed.job(layer(b, l, m, hm * m, e, k, f), parallel);
                const double ds = bed.run(job, "deepspeed-moe").mean_iteration_us();
                const double s1 = bed.run(job, "parm-s1").mean_iteration_us();
                const double s2 = bed.run(job, "parm-s2").mean_iteration_us();
                const job::StrategyResult parm = bed.run(job, "parm");
                g.parm.add(ds / parm.mean_iteration_us());
                g.s1.add(ds / s1);
                g.s2.add(ds / s2);
                g.s2_picked += parm.last.decisions.at("parm.schedule").name() == "S2";
                ++g.configs;
                const double best = std::min(s1, s2);
                g.close_to_best += parm.mean_iteration_us() <= 1.02 * best;
                g.parm_total_us += parm.mean_iteration_us();
                g.best_total_us += best;
              }
            }
          }
        }
      }
    }
  }
  return g;
}

void report(const char* testbed, const GridResult& g) {
  std::cout << testbed << ": " << g.configs << " MoE layer configurations\n"
            << "  parm over deepspeed-moe: mean " << g.parm.mean << "x, min " << g.parm.min
            << "x, max " << g.parm.max << "x (S2 picked on " << g.s2_picked << ")\n"
            << "  parm-s1: mean " << g.s1.mean << "x, min " << g.s1.min << "x, max " << g.s1.max
            << "x; parm-s2: mean " << g.s2.mean << "x, min " << g.s2.min << "x, max " << g.s2.max
            << "x\n"
            << "  parm within 2% of the faster schedule on " << g.close_to_best << " of "
            << g.configs << "; total parm / total best = " << g.parm_total_us / g.best_total_us
            << "\n";
  ::testing::Test::RecordProperty(std::string(testbed) + ".parm_mean_speedup",
                                  std::to_string(g.parm.mean));
  ::testing::Test::RecordProperty(std::string(testbed) + ".parm_min_speedup",
                                  std::to_string(g.parm.min));
  ::testing::Test::RecordProperty(std::string(testbed) + ".parm_max_speedup",
                                  std::to_string(g.parm.max));
}

void check(const GridResult& g) {
  EXPECT_EQ(g.configs, 128u);
  EXPECT_GE(g.parm.min, 1.05);  // paper: 1.13x at least
  EXPECT_GE(g.parm.max, 2.5);   // paper: up to 5.77x
  EXPECT_GE(g.parm.mean, 1.5);
  // The planner: close to the faster schedule almost everywhere, and no worse in total.
  EXPECT_GE(g.close_to_best, g.configs * 9 / 10);
  EXPECT_LE(g.parm_total_us, 1.01 * g.best_total_us);
}

TEST(ParmValidation, BeatsDeepSpeedMoeOnAnEightGpuNode) {
  const Testbed bed("a6000-8gpu", 1);
  const GridResult g = run_grid(bed, "tp=4,esp=4,ep=2");
  report("a6000-8gpu", g);
  check(g);
}

TEST(ParmValidation, BeatsDeepSpeedMoeOnAThirtyTwoGpuCluster) {
  const Testbed bed("pcie3-8gpu-100g", 4);
  const GridResult g = run_grid(bed, "tp=8,esp=8,ep=4");
  report("4x pcie3-8gpu-100g", g);
  check(g);
}

TEST(ParmValidation, PicksS2WhereOperationLatencyDominates) {
  // A small layer (B=1, L=128, M=256) on the A6000 node: S2's single collective beats S1's three
  // (EP all-to-all, ESP all-gather, reduce-scatter) and the alpha-beta model sees it.
  const Testbed bed("a6000-8gpu", 1, "rtx-a6000");
  const job::PreparedJob job = bed.job(layer(1, 128, 256, 512, 8, 1, 1.0), "tp=4,esp=4,ep=2");
  const job::StrategyResult parm = bed.run(job, "parm");
  const double s1 = bed.run(job, "parm-s1").mean_iteration_us();
  const double s2 = bed.run(job, "parm-s2").mean_iteration_us();
  std::cout << "small layer: parm-s1 " << s1 << " us, parm-s2 " << s2 << " us, parm chose "
            << parm.last.decisions.at("parm.schedule") << "\n";
  EXPECT_EQ(parm.last.decisions.at("parm.schedule").name(), "S2");
  EXPECT_LT(s2, s1);
  EXPECT_DOUBLE_EQ(parm.mean_iteration_us(), s2);
}

}  // namespace
}  // namespace moesim::validation
